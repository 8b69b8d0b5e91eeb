// Error bodies shaped exactly like k8s.io/apimachinery/pkg/api/errors builds them, so that client code that
// branches on `code`, `reason` or `details` sees what a real API server would send.

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
}

/** What names a resource in messages: `secrets`, or `leases.coordination.k8s.io` outside the core group. */
export interface GroupResource {
  group: string;
  resource: string;
  kind: string;
}

export function qualifiedResource(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

function qualifiedKind(gr: GroupResource): string {
  return gr.group ? `${gr.kind}.${gr.group}` : gr.kind;
}

/** An error the double answers with a `Status` body (thrown by the registry, caught by the HTTP layer). */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): object {
    const status: Record<string, unknown> = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
    };
    if (this.details) status.details = omitEmpty(this.details);
    status.code = this.code;
    return status;
  }
}

/** Go's `omitempty`: empty strings and lists are not serialized. */
function omitEmpty(details: StatusDetails): StatusDetails {
  return Object.fromEntries(Object.entries(details).filter(([, v]) => v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0)));
}

function detailsOf(gr: GroupResource, name: string): StatusDetails {
  return { name, group: gr.group, kind: gr.resource };
}

export function notFound(gr: GroupResource, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(gr)} "${name}" not found`, detailsOf(gr, name));
}

export function alreadyExists(gr: GroupResource, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualifiedResource(gr)} "${name}" already exists`, detailsOf(gr, name));
}

/** The text of apiserver's OptimisticLockErrorMsg. */
export const OPTIMISTIC_LOCK = 'the object has been modified; please apply your changes to the latest version and try again';

export function conflict(gr: GroupResource, name: string, why: string = OPTIMISTIC_LOCK): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(gr)} "${name}": ${why}`, detailsOf(gr, name));
}

/** The authorizer's refusal (`NewForbidden` plus `forbiddenMessage` of the authorization filter). */
export function forbidden(gr: GroupResource, name: string, user: string, verb: string, namespace: string): ApiError {
  const subject = name ? `${qualifiedResource(gr)} "${name}"` : qualifiedResource(gr);
  const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
  const why = `User "${user}" cannot ${verb} resource "${gr.resource}" in API group "${gr.group}" ${scope}`;
  return new ApiError(403, 'Forbidden', `${subject} is forbidden: ${why}`, detailsOf(gr, name));
}

/** One field.Error; `body` is what follows the field path (e.g. `Required value`). */
export interface FieldError {
  type: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueTooLong' | 'FieldValueDuplicate';
  field: string;
  body: string;
}

export const fieldInvalid = (field: string, value: unknown, detail: string): FieldError => ({
  type: 'FieldValueInvalid',
  field,
  body: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
});
export const fieldRequired = (field: string, detail = ''): FieldError => ({
  type: 'FieldValueRequired',
  field,
  body: detail ? `Required value: ${detail}` : 'Required value',
});
export const fieldForbidden = (field: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field, body: `Forbidden: ${detail}` });
export const fieldTooLong = (field: string, max: number): FieldError => ({
  type: 'FieldValueTooLong',
  field,
  body: `Too long: must have at most ${max} bytes`,
});

/** 422, as `NewInvalid` builds it: the message aggregates the field errors, details.kind is the Kind. */
export function invalid(gr: GroupResource | undefined, name: string, errors: FieldError[]): ApiError {
  const texts = errors.map(e => `${e.field}: ${e.body}`);
  const aggregate = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  const subject = gr ? `${qualifiedKind(gr)} "${name}"` : `"${name}"`;
  return new ApiError(422, 'Invalid', `${subject} is invalid: ${aggregate}`, {
    name,
    group: gr?.group,
    kind: gr?.kind,
    causes: errors.map(e => ({ reason: e.type, message: e.body, field: e.field })),
  });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

/** A body the decoder rejects: `Secret in version "v1" cannot be handled as a Secret: …`. */
export function undecodable(gr: GroupResource, version: string, why: string): ApiError {
  return badRequest(`${gr.kind} in version "${version}" cannot be handled as a ${gr.kind}: ${why}`);
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

export function internalError(why: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${why}`, { causes: [{ message: why }] });
}

/** What the API server answers for a path it does not serve. */
export function pathNotFound(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function methodNotAllowed(): ApiError {
  return new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

export function serviceUnavailable(): ApiError {
  return new ApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request', {});
}

/** 422 from a JSON patch that cannot be applied (apiserver uses NewGenericServerResponse for it). */
export function patchNotApplicable(): ApiError {
  return new ApiError(422, 'Invalid', 'the server rejected our request due to an error in our request', {});
}
