/** Languages the player speaks; Hebrew is laid out right-to-left. */
export type PlayerLang = 'en' | 'he';

/** The player's texts per language; `{n}` is replaced by the seconds waited. */
export const PLAYER_MESSAGES: Record<PlayerLang, Record<string, string>> = {
  en: {
    title: 'Call recording',
    loading: 'Loading the recording…',
    preparing: 'The recording is being prepared…',
    not_found: 'No recording exists for this call',
    worker_offline: 'The recording service is not responding. Try again later or contact support',
    download_failed: 'The recording could not be fetched from the provider',
    timeout: 'The recording is still being prepared (waited {n} s); this can take up to 3 minutes',
    error: 'The recording could not be loaded',
  },
  he: {
    title: 'הקלטת שיחה',
    loading: 'טוען את ההקלטה…',
    preparing: 'ההקלטה בהכנה…',
    not_found: 'אין הקלטה לשיחה זו',
    worker_offline: 'שירות ההקלטות לא מגיב. נסו שוב מאוחר יותר או פנו לתמיכה',
    download_failed: 'לא ניתן היה להביא את ההקלטה מהספק',
    timeout: 'ההקלטה עדיין בהכנה (המתנו {n} שניות); זה יכול לקחת עד 3 דקות',
    error: 'לא ניתן לטעון את ההקלטה',
  },
};

/** `?lang=he|en` wins; otherwise the first of the browser's languages we speak; English by default. */
export function pickLang(query: unknown, acceptLanguage: string | undefined): PlayerLang {
  if (query === 'he' || query === 'en') return query;
  for (const part of (acceptLanguage ?? '').split(',')) {
    const tag = part.split(';')[0].trim().toLowerCase();
    if (tag.startsWith('he') || tag.startsWith('iw')) return 'he';
    if (tag.startsWith('en')) return 'en';
  }
  return 'en';
}
