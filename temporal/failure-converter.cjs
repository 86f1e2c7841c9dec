// Loaded by path (inside the workflow sandbox, and by clients and workers with require):
// failure messages and stack traces become encoded payloads, so the codec encrypts them too.
// Plain CommonJS so every loader (webpack bundle, tsx, vitest) can require it as it is.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS on purpose, see above
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
