import fc from 'fast-check';
import { base36Ms, decimalMs, isoFromMs, isoOrNull, msFromCanonicalIso } from '../../src/monitor/iso-time';

const MAX = 253402300799999; // 9999-12-31T23:59:59.999Z

describe('run times (cached ISO conversions)', () => {
  it('formats exactly as Date#toISOString and parses its output back, in any order of seconds', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: MAX }), { minLength: 1, maxLength: 40 }), (times) => {
        for (const ms of times) {
          const iso = new Date(ms).toISOString();
          expect(isoFromMs(ms)).toBe(iso);
          expect(msFromCanonicalIso(iso)).toBe(ms);
        }
      }),
    );
  });

  it('refuses what is not canonical, even when Date.parse would accept it', () => {
    for (const s of [
      '2024-02-30T00:00:00.000Z', // rolls over to March
      '2024-01-01T00:00:60.000Z',
      '2024-01-01T00:00:00Z',
      '2024-01-01T00:00:00.000+00:00',
      '2024-01-01 00:00:00.000Z',
      '1969-12-31T23:59:59.999Z', // before the epoch: kept as text by the stores
      '',
      'yesterday',
    ]) {
      expect(msFromCanonicalIso(s)).toBeNaN();
    }
  });

  it('falls back to toISOString outside years 0–9999 and keeps BullMQ’s unset 0 as null', () => {
    expect(isoFromMs(-1)).toBe('1969-12-31T23:59:59.999Z');
    expect(isoOrNull(0)).toBeNull();
    expect(isoOrNull(undefined)).toBeNull();
    expect(isoOrNull(1_700_000_000_123)).toBe('2023-11-14T22:13:20.123Z');
  });

  it('writes epoch-ms times in base 36 and decimal exactly as toString(36) and String do, in any order', () => {
    const time = fc.oneof(
      fc.integer({ min: 0, max: MAX }),
      fc.integer({ min: 0, max: 36 ** 4 + 10 }),
      fc.integer({ min: 999_990, max: 1_000_010 }),
      fc.constantFrom(-1, 0.5, 1e21, Number.MAX_SAFE_INTEGER, Number.NaN),
    );
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 40 }), (times) => {
        for (const ms of times) {
          expect(base36Ms(ms)).toBe(ms.toString(36));
          expect(decimalMs(ms)).toBe(String(ms));
        }
      }),
    );
  });
});
