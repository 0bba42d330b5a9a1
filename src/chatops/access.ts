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

/**
 * How many refused presses of one Telegram user are audited per minute: a stranger pressing (or a script
 * replaying) buttons again and again must not fill the audit log. Past the budget the press is still refused
 * and logged (`bot_refused`); the audit says enough that the user tried. In-process and bounded.
 */
export class RefusalAuditBudget {
  private readonly windows = new Map<number, { start: number; used: number }>();

  constructor(
    private readonly perMinute = 10,
    private readonly maxUsers = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when this user's refused press may be audited now (and counts it). */
  take(userId: number): boolean {
    const now = this.now();
    let w = this.windows.get(userId);
    if (!w || now - w.start >= 60_000) {
      this.windows.delete(userId);
      w = { start: now, used: 0 };
      this.windows.set(userId, w);
      if (this.windows.size > this.maxUsers) {
        const oldest = this.windows.keys().next().value;
        if (oldest !== undefined) this.windows.delete(oldest);
      }
    }
    if (w.used >= this.perMinute) return false;
    w.used++;
    return true;
  }
}
