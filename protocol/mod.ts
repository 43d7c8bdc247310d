/** The Parley wire protocol: types, limits, codes and framing, shared by server and client. */
export * from "./errors.ts";
export * from "./frames.ts";
export * from "./limits.ts";
export type * from "./messages.ts";
