// WS /api/v1/stream: live price intervals, authenticated by the session cookie. Reconnects with backoff
// and re-sends its subscription, so a restarted gateway or a dropped connection heals by itself.
import type { StreamMessage } from "./types";

export type StreamState = "connecting" | "open" | "closed";

export interface Subscription {
  markets?: string[];
  instruments?: string[];
  runs?: string[];
}

export class PriceStream {
  private socket: WebSocket | null = null;
  private retry = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  state: StreamState = "connecting";

  constructor(
    private readonly subscription: Subscription,
    private readonly onMessage: (message: StreamMessage) => void,
    private readonly onState: (state: StreamState) => void = () => {},
    private readonly url: string = PriceStream.defaultUrl(),
  ) {
    this.connect();
  }

  static defaultUrl(): string {
    const { protocol, host } = window.location;
    return `${protocol === "https:" ? "wss" : "ws"}://${host}/api/v1/stream`;
  }

  private setState(state: StreamState): void {
    this.state = state;
    this.onState(state);
  }

  private connect(): void {
    this.setState("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.retry = 0;
      socket.send(JSON.stringify({ op: "subscribe", ...this.subscription }));
    };
    socket.onmessage = (event) => {
      let message: StreamMessage;
      try {
        message = JSON.parse(String(event.data)) as StreamMessage;
      } catch {
        return;
      }
      if (message.type === "subscribed") this.setState("open");
      this.onMessage(message);
    };
    socket.onclose = (event) => {
      this.socket = null;
      this.setState("closed");
      // 4401: the session is gone; reconnecting would be refused the same way
      if (this.stopped || event.code === 4401) return;
      const delay = Math.min(30_000, 500 * 2 ** this.retry++);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.close();
  }
}
