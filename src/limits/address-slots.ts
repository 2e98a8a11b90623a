// Open connections per client address (MAX_CONNECTIONS_PER_ADDRESS): a count per
// address, taken before a socket's first byte is read and given back when it
// closes or has its final answer. Pure counting; the server holds the sockets.

export class AddressSlots {
  private readonly open = new Map<string, number>();

  constructor(private readonly maxPerAddress: number) {}

  /** Takes a slot for `address`; false (nothing taken) when it already has its maximum. */
  take(address: string): boolean {
    const next = (this.open.get(address) ?? 0) + 1;
    if (next > this.maxPerAddress) return false;
    this.open.set(address, next);
    return true;
  }

  release(address: string): void {
    const left = (this.open.get(address) ?? 1) - 1;
    if (left === 0) this.open.delete(address);
    else this.open.set(address, left);
  }
}
