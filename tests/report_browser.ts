/**
 * A minimal headless-Chromium driver for the report tests, over the DevTools protocol and Deno's
 * WebSocket: open a `file://` page, collect console errors, exceptions and requests, evaluate
 * expressions, take screenshots. Uses the system's Chromium (Debian package `chromium`), never a
 * downloaded browser.
 *
 * @module
 */

/** Path of a Chromium executable: `$CHROMIUM`, else the first of the usual names on PATH. */
export function findChromium(): string | null {
  const env = Deno.env.get("CHROMIUM");
  const candidates = env ? [env] : [];
  const path = (Deno.env.get("PATH") ?? "").split(":").filter((p) => p !== "");
  for (const dir of path) {
    for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
      candidates.push(`${dir}/${name}`);
    }
  }
  for (const c of candidates) {
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch {
      // next
    }
  }
  return null;
}

type Msg = {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { message: string };
  sessionId?: string;
};

/** Problems a page caused: console errors, uncaught exceptions, failed or outgoing requests. */
export interface PageProblems {
  consoleErrors: string[];
  exceptions: string[];
  failedRequests: string[];
  /** Requests to anything but the page itself and `data:`/`blob:` URLs. */
  outgoingRequests: string[];
  logErrors: string[];
}

/** A running headless Chromium with one page. */
export class Browser {
  #proc: Deno.ChildProcess;
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #listeners: ((m: Msg) => void)[] = [];
  #session = "";
  #profile: string;
  #pageUrl = "";
  /** Everything that went wrong since the last {@link Browser.open}. */
  problems: PageProblems = {
    consoleErrors: [],
    exceptions: [],
    failedRequests: [],
    outgoingRequests: [],
    logErrors: [],
  };

  private constructor(proc: Deno.ChildProcess, ws: WebSocket, profile: string) {
    this.#proc = proc;
    this.#ws = ws;
    this.#profile = profile;
    ws.onmessage = (ev) => {
      const m = JSON.parse(String(ev.data)) as Msg;
      if (m.id !== undefined) {
        const p = this.#pending.get(m.id);
        if (p) {
          this.#pending.delete(m.id);
          if (m.error) p.reject(new Error(`CDP: ${m.error.message}`));
          else p.resolve(m.result);
        }
      } else {
        for (const l of this.#listeners) l(m);
      }
    };
  }

  /** Starts Chromium headless with a fresh profile and attaches to a blank page. */
  static async launch(executable: string): Promise<Browser> {
    const profile = await Deno.makeTempDir({ prefix: "shiftlab-chromium-" });
    const proc = new Deno.Command(executable, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        `--user-data-dir=${profile}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    const deadline = Date.now() + 30000;
    let url: string | null = null;
    while (url === null) {
      if (Date.now() > deadline) throw new Error(`chromium did not start in 30 s; stderr:\n${buf}`);
      const { value, done } = await reader.read();
      if (done) throw new Error(`chromium exited before listening; stderr:\n${buf}`);
      buf += value;
      url = buf.match(/DevTools listening on (ws:\/\/\S+)/)?.[1] ?? null;
    }
    // Keep draining stderr so Chromium never blocks on a full pipe.
    (async () => {
      try {
        while (!(await reader.read()).done) { /* discard */ }
      } catch { /* closed */ }
    })();
    const ws = new WebSocket(url);
    await new Promise<void>((res, rej) => {
      ws.onopen = () => res();
      ws.onerror = () => rej(new Error(`cannot connect to ${url}`));
    });
    const b = new Browser(proc, ws, profile);
    const { targetId } = await b.send("Target.createTarget", { url: "about:blank" }) as {
      targetId: string;
    };
    const { sessionId } = await b.send("Target.attachToTarget", { targetId, flatten: true }) as {
      sessionId: string;
    };
    b.#session = sessionId;
    b.#listeners.push((m) => b.#record(m));
    for (const d of ["Runtime.enable", "Log.enable", "Network.enable", "Page.enable"]) {
      await b.cmd(d);
    }
    return b;
  }

  #record(m: Msg) {
    if (m.sessionId !== this.#session || !m.params) return;
    // deno-lint-ignore no-explicit-any
    const p = m.params as Record<string, any>;
    switch (m.method) {
      case "Runtime.consoleAPICalled":
        if (p.type === "error" || p.type === "assert") {
          this.problems.consoleErrors.push(
            (p.args as { value?: unknown; description?: string }[]).map((a) =>
              a.description ?? String(a.value)
            ).join(" "),
          );
        }
        break;
      case "Runtime.exceptionThrown":
        this.problems.exceptions.push(
          p.exceptionDetails?.exception?.description ?? p.exceptionDetails?.text,
        );
        break;
      case "Log.entryAdded":
        if (p.entry.level === "error") {
          this.problems.logErrors.push(`${p.entry.text} ${p.entry.url ?? ""}`);
        }
        break;
      case "Network.loadingFailed":
        this.problems.failedRequests.push(`${p.errorText} (${p.requestId})`);
        break;
      case "Network.requestWillBeSent": {
        const u = String(p.request.url);
        if (u !== this.#pageUrl && !u.startsWith("data:") && !u.startsWith("blob:")) {
          this.problems.outgoingRequests.push(u);
        }
        break;
      }
    }
  }

  /** Sends a browser-level command. */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  /** Sends a command to the page. */
  cmd(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return this.send(method, params, this.#session);
  }

  /** Opens `url` and waits for its load event; resets {@link Browser.problems}. */
  async open(url: string, width = 1360, height = 900): Promise<void> {
    this.problems = {
      consoleErrors: [],
      exceptions: [],
      failedRequests: [],
      outgoingRequests: [],
      logErrors: [],
    };
    this.#pageUrl = url;
    await this.cmd("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    const loaded = new Promise<void>((res) => {
      const l = (m: Msg) => {
        if (m.method === "Page.loadEventFired" && m.sessionId === this.#session) {
          this.#listeners.splice(this.#listeners.indexOf(l), 1);
          res();
        }
      };
      this.#listeners.push(l);
    });
    const nav = await this.cmd("Page.navigate", { url }) as { errorText?: string };
    if (nav.errorText) throw new Error(`navigation to ${url} failed: ${nav.errorText}`);
    await loaded;
  }

  /** Evaluates an expression in the page and returns its (JSON) value; throws on exceptions. */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.cmd("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    }) as {
      result: { value: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) {
      throw new Error(
        `page evaluation failed: ${
          r.exceptionDetails.exception?.description ?? r.exceptionDetails.text
        }`,
      );
    }
    return r.result.value;
  }

  /** PNG of the whole page (the full scroll height at the current width). */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.cmd("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
    }) as {
      data: string;
    };
    return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  }

  /** Closes the browser, the socket and removes the profile. */
  async close(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.send("Browser.close"),
        new Promise((r) => (timer = setTimeout(r, 3000))),
      ]);
    } catch {
      // already gone
    } finally {
      clearTimeout(timer);
    }
    const closed = new Promise<void>((res) => {
      if (this.#ws.readyState === WebSocket.CLOSED) res();
      else this.#ws.onclose = () => res();
    });
    this.#ws.close();
    await closed;
    try {
      this.#proc.kill("SIGKILL");
    } catch {
      // exited
    }
    await this.#proc.status;
    this.#pending.clear();
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}
