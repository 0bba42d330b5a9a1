/**
 * Who may use the bot: chats and users listed in TELEGRAM_ADMIN_IDS. A message or button press is allowed
 * when its chat id or its sender's user id is listed.
 */
export class AdminList {
  private readonly ids: Set<string>;

  constructor(ids: Iterable<string | number>) {
    this.ids = new Set([...ids].map(String));
  }

  get size(): number {
    return this.ids.size;
  }

  allows(chatId: number | undefined, userId: number | undefined): boolean {
    return (
      (chatId !== undefined && this.ids.has(String(chatId))) ||
      (userId !== undefined && this.ids.has(String(userId)))
    );
  }
}

/** Remembers which chats were already refused, so each gets the polite refusal once. */
export interface RefusalMemory {
  /** True the first time it is called for a chat, false afterwards. */
  firstRefusal(chatId: number): Promise<boolean>;
}

/**
 * In-process memory of refused chats, bounded (oldest forgotten first). After a restart a chat may be
 * refused once more, which is harmless.
 */
export class MemoryRefusals implements RefusalMemory {
  private readonly seen = new Set<number>();

  constructor(private readonly max = 10_000) {}

  async firstRefusal(chatId: number): Promise<boolean> {
    if (this.seen.has(chatId)) return false;
    this.seen.add(chatId);
    if (this.seen.size > this.max) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }
}
