// Turns every failure into a JSON body naming the field and the reason; never leaks internals.
import type { FastifyError, FastifyInstance } from 'fastify';
import type { ErrorObject } from 'ajv';
import { ApiProblem } from '../problems.js';
import { describeSchemaError } from '../validation.js';
import { DataError } from '../../db/errors.js';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
};

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | ApiProblem | DataError, request, reply) => {
    if (error instanceof ApiProblem) {
      return reply.code(error.statusCode).send({
        statusCode: error.statusCode,
        error: STATUS_TEXT[error.statusCode] ?? 'Error',
        field: error.field,
        message: error.message,
        ...error.details,
      });
    }
    if (error instanceof DataError) {
      return reply.code(error.statusCode).send({
        statusCode: error.statusCode,
        error: STATUS_TEXT[error.statusCode],
        field: error.field,
        message: error.message,
      });
    }
    if (error.validation) {
      const whole = error.validationContext ?? 'request';
      const first = error.validation[0];
      let { field, reason } = first
        ? describeSchemaError(first as ErrorObject, { whole })
        : { field: whole, reason: 'is invalid' };
      if (whole === 'body' && first?.instancePath === '' && first.keyword === 'type') {
        reason =
          request.body !== undefined
            ? 'must be a JSON object'
            : 'is required: send a JSON object (content-type: application/json)';
        field = 'body';
      }
      return reply.code(400).send({
        statusCode: 400,
        error: 'Bad Request',
        field,
        message: `${field ?? error.validationContext ?? 'request'}: ${reason}`,
      });
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(500).send({
        statusCode: 500,
        error: 'Internal Server Error',
        message: 'the server failed to handle this request; see its log',
      });
    }
    // A body over the size limit, or of a type no parser takes, is the body's fault.
    const field = status === 413 || status === 415 ? 'body' : undefined;
    return reply.code(status).send({
      statusCode: status,
      error: STATUS_TEXT[status] ?? 'Error',
      field,
      message: field ? `${field}: ${error.message}` : error.message,
    });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      statusCode: 404,
      error: 'Not Found',
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
    }),
  );
}
