/** The one place that writes logs: one line per event, to stderr. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: LogLevel = "info"): Logger {
  const write = (at: Exclude<LogLevel, "silent">, message: string, fields?: object) => {
    if (ORDER[at] < ORDER[level]) return;
    const extra = fields ? " " + formatFields(fields) : "";
    console.error(`${new Date().toISOString()} ${at.toUpperCase()} ${message}${extra}`);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}

function formatFields(fields: object): string {
  return Object.entries(fields).map(([k, v]) => {
    const text = v instanceof Error
      ? (v.stack ?? v.message)
      : typeof v === "string"
      ? v
      : JSON.stringify(v);
    return `${k}=${text}`;
  }).join(" ");
}
