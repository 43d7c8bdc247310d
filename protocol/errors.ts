/** Error codes carried in `{error: {code, message}}` replies, and WebSocket close codes. */

export const ERROR_CODES = {
  bad_json: "The frame is not valid JSON.",
  invalid_frame: "The frame does not match the protocol schema.",
  unknown_type: "Unknown frame type.",
  unsupported_version: "No protocol version in common with the server.",
  hello_required: "Send `hello` before any other request.",
  already_hello: "`hello` was already accepted on this connection.",
  text_empty: "Message text is empty.",
  text_too_long: "Message text is too long.",
  invalid_room_name: "Room names are 1-32 characters: a-z, 0-9, '-' and '_'.",
  room_exists: "A room with that name already exists.",
  room_not_found: "No such room.",
  message_not_found: "No such message in this room.",
  not_joined: "Join the room first.",
  too_many_rooms: "This connection has joined too many rooms.",
  rate_limited: "Too many requests; slow down.",
  frame_too_large: "The frame is larger than the protocol allows.",
  unauthorized: "Not signed in.",
  forbidden: "Not allowed.",
  user_not_found: "No such user.",
  refused: "The server's policy refused this.",
  unknown_command: "No such command; try /help.",
  too_many_reactions: "This message has as many reactions as it may hold.",
  file_not_found: "No such file, or it is not yours to attach here.",
  file_too_large: "The file is larger than this server accepts.",
  internal: "The server failed to handle the request.",
  unavailable: "A service the server depends on is down; retry shortly.",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

/**
 * Close codes. 4000-4099 mean "do not reconnect" (fix something first);
 * 4100-4199 mean "reconnect with backoff and recover from history".
 */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  frameTooLarge: 1009,
  internalError: 1011,
  serviceRestart: 1012,
  unauthorized: 4001,
  unsupportedVersion: 4002,
  helloTimeout: 4003,
  sessionRevoked: 4004,
  tokenExpired: 4005,
  accountDisabled: 4006,
  slowConsumer: 4100,
  shuttingDown: 4101,
} as const;

export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

/** Whether a client should reconnect after the socket closed with `code`. */
export function shouldReconnect(code: number): boolean {
  if (code >= 4000 && code < 4100) return false;
  if (code >= 4100 && code < 4200) return true;
  return code !== CLOSE_CODES.normal && code !== CLOSE_CODES.policyViolation &&
    code !== CLOSE_CODES.frameTooLarge;
}

/** An error that carries a protocol error code, thrown inside the server and turned into a reply. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterMs: number | undefined;
  /** With `forbidden`: the permission that is missing. */
  readonly permission: string | undefined;
  constructor(
    code: ErrorCode,
    message: string = ERROR_CODES[code],
    retryAfterMs?: number,
    permission?: string,
  ) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.retryAfterMs = retryAfterMs;
    this.permission = permission;
  }
}
