// This node's liveness in the cluster: a deadline pushed to Redis every period
// (on Redis's clock), the reaping of nodes past theirs (whichever node runs the
// script first reports their members left), the count of live nodes, and a
// goodbye at a clean stop. It also says when Redis has been back long enough for
// every node to listen again (SETTLE_MS), for work that must wait for that.

import { SETTLE_MS } from './followed-room';
import type { ClusterNames } from './names';
import type { RedisLink } from './redis-link';

export interface HeartbeatEvents {
  /** Redis no longer knew this node (reaped after a long pause, or wiped): put its presence back. */
  forgotten(): Promise<void>;
  /** A beat at least SETTLE_MS after Redis came back (every beat from then on). */
  settled(): void;
  log(level: 'info', event: string, fields: Record<string, unknown>): void;
}

export class NodeHeartbeat {
  /** Live nodes at the last beat (this one included). */
  nodes = 0;
  private timer: NodeJS.Timeout | null = null;
  private beating = false;
  /** When Redis last came back (Date.now()). */
  private upSince = 0;

  constructor(
    private readonly link: RedisLink,
    private readonly names: ClusterNames,
    private readonly node: string,
    private readonly periodMs: number,
    private readonly events: HeartbeatEvents,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.beat(), this.periodMs);
    this.timer.unref();
  }

  /** Redis is (back) up: the settle time counts from now. */
  up(): void {
    this.upSince = Date.now();
  }

  /** Pushes our deadline, notices if Redis forgot us, and reaps nodes past theirs. */
  async beat(): Promise<void> {
    if (!this.link.up || this.beating) return;
    this.beating = true;
    try {
      const reply = await this.link.run('heartbeat', [this.names.nodes], [this.node, 4 * this.periodMs]);
      const [known, nodes] = reply as [number, number];
      this.nodes = Number(nodes);
      if (Number(known) === 0) await this.events.forgotten();
      const reaped = await this.link.run('reap', [this.names.nodes], [this.names.prefix]);
      if (Number(reaped) > 0) this.events.log('info', 'cluster_nodes_reaped', { nodes: Number(reaped) });
      if (Date.now() - this.upSince >= SETTLE_MS) this.events.settled();
    } catch {
      // counted by the link
    } finally {
      this.beating = false;
    }
  }

  /** Stops beating; a goodbye, so the others report whoever is still counted here as left now rather than after the expiry. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.link.up) await this.link.run('reap', [this.names.nodes], [this.names.prefix, this.node]).catch(() => undefined);
  }
}
