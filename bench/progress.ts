/** One status line on stderr while a run goes: rewritten in place on a terminal, throttled otherwise. */
const encoder = new TextEncoder();

export class Progress {
  readonly #tty = Deno.stderr.isTerminal();
  #lastLine = 0;
  #label = "";

  start(label: string): void {
    this.#label = label;
    this.#lastLine = 0;
    this.update("starting");
  }

  update(text: string): void {
    const line = `${this.#label}: ${text}`;
    if (this.#tty) {
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${line}`));
    } else if (performance.now() - this.#lastLine > 2000) {
      this.#lastLine = performance.now();
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    }
  }

  done(text: string): void {
    const line = `${this.#label}: ${text}`;
    Deno.stderr.writeSync(encoder.encode(this.#tty ? `\r\x1b[K${line}\n` : line + "\n"));
  }

  note(text: string): void {
    Deno.stderr.writeSync(encoder.encode((this.#tty ? "\r\x1b[K" : "") + text + "\n"));
  }
}
