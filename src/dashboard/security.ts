import helmet from 'helmet';

const common = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  connectSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/** helmet for the dashboard: no inline scripts or styles, nothing from other origins, no framing. */
export function dashboardHeaders() {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { ...common, styleSrc: ["'self'"] } },
    referrerPolicy: { policy: 'same-origin' },
  });
}

/**
 * helmet for Bull Board: still no inline scripts (its config is an inert JSON script tag), but its React UI
 * sets inline styles, so style-src allows them.
 */
export function bullBoardHeaders() {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { ...common, styleSrc: ["'self'", "'unsafe-inline'"] },
    },
    referrerPolicy: { policy: 'same-origin' },
  });
}
