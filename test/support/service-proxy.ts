import * as net from 'net';

/**
 * Stands in for a Kubernetes Service on loopback: listens on `<ip>:<port>` (e.g. 127.0.0.10:5432, so the port in
 * the app Secret is the real one) and forwards each new connection to a pod its selector picks at that moment,
 * as kube-proxy does. `resolve` returns the loopback port of a selected pod, or undefined (no endpoints: refused).
 */
export class ServiceProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly resolve: () => number | undefined,
  ) {}

  start(): Promise<void> {
    this.server = net.createServer(client => {
      const target = this.resolve();
      if (target === undefined) {
        client.destroy();
        return;
      }
      const upstream = net.connect({ host: '127.0.0.1', port: target });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, this.host, () => resolve());
    });
  }

  /** Drops open connections (a Service whose endpoint went away). */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.dropConnections();
    await new Promise<void>(r => (this.server ? this.server.close(() => r()) : r()));
  }
}
