// Error classification by Status reason and code, never by message text.
import { describe, expect, it } from 'vitest';
import {
  ApiError, apiErrorOf, isAlreadyExists, isConflict, isGone, isNamespaceTerminating, isNotFound, isTooManyRequests, statusError,
} from '../../src/kube/api-errors.ts';

const status = (code: number, reason: string, extra: Record<string, unknown> = {}) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message: 'm', ...extra });

describe('statusError', () => {
  it('takes reason, details and causes from the Status', () => {
    const e = statusError('PUT /x', 409, status(409, 'Conflict', { details: { name: 'x', kind: 'leases' } }), '');
    expect(e).toMatchObject({ status: 409, reason: 'Conflict', details: { name: 'x', kind: 'leases' }, message: 'PUT /x: 409 m' });
  });

  it('falls back to the reason the code implies when the body is not a Status (a proxy\'s HTML page)', () => {
    expect(statusError('GET /x', 404, '<html>nope</html>', '<html>nope</html>')).toMatchObject({ reason: 'NotFound', message: 'GET /x: 404 <html>nope</html>' });
    expect(statusError('GET /x', 418, undefined, 'teapot').reason).toBe('Unknown');
  });

  it('does not repeat causes the message already contains', () => {
    const causes = [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.x' }];
    expect(statusError('POST /x', 422, status(422, 'Invalid', { message: 'x is invalid: spec.x: Required value', details: { causes } }), '').message).toBe('POST /x: 422 x is invalid: spec.x: Required value');
  });

  it('keeps Retry-After seconds, from the header or from details', () => {
    expect(statusError('GET /x', 429, status(429, 'TooManyRequests'), '', 3).retryAfterSeconds).toBe(3);
    expect(statusError('GET /x', 429, status(429, 'TooManyRequests', { details: { retryAfterSeconds: 7 } }), '').retryAfterSeconds).toBe(7);
  });
});

describe('classification helpers', () => {
  const e = (code: number, reason: string, extra: Record<string, unknown> = {}): ApiError => statusError('X /y', code, status(code, reason, extra), '');

  it('decide by reason: a 409 AlreadyExists is not a Conflict, and the other way round', () => {
    expect(isConflict(e(409, 'Conflict'))).toBe(true);
    expect(isAlreadyExists(e(409, 'Conflict'))).toBe(false);
    expect(isAlreadyExists(e(409, 'AlreadyExists'))).toBe(true);
    expect(isConflict(e(409, 'AlreadyExists'))).toBe(false);
    expect(isNotFound(e(404, 'NotFound'))).toBe(true);
    expect(isNotFound(e(409, 'Conflict'))).toBe(false);
    expect(isTooManyRequests(e(429, 'TooManyRequests'))).toBe(true);
    expect(isGone(e(410, 'Expired'))).toBe(true);
    expect(isGone(e(410, 'Gone'))).toBe(true);
    expect(isGone(e(500, 'InternalError'))).toBe(false);
  });

  it('a namespace being deleted is known by its Status cause, not by the message', () => {
    const terminating = e(403, 'Forbidden', { message: 'whatever wording', details: { causes: [{ reason: 'NamespaceTerminating', field: 'metadata.namespace' }] } });
    expect(isNamespaceTerminating(terminating)).toBe(true);
    expect(isNamespaceTerminating(e(403, 'Forbidden', { message: 'unable to create new content in namespace x because it is being terminated' }))).toBe(false);
  });

  it('look through errors wrapped with { cause }', () => {
    const wrapped = new Error('TenantIsolation t changed while updating finalizers; retrying', { cause: e(409, 'Conflict') });
    expect(isConflict(wrapped)).toBe(true);
    expect(apiErrorOf(new Error('outer', { cause: wrapped }))?.reason).toBe('Conflict');
    expect(isConflict(new Error('Conflict'))).toBe(false);
    expect(apiErrorOf('a string')).toBeUndefined();
  });
});
