// The workflow the TLS test runs: enough to prove a worker polls and answers through TLS.
export async function echoWorkflow(text: string): Promise<string> {
  return `echo: ${text}`;
}
