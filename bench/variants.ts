/** The HTTP server variants, by name. */
export type Variant =
  | "express"
  | "ours"
  | "ours-cached"
  | "ours-untraced"
  | "ours-touch"
  | "ours-cluster"
  | "ours-cluster-touch"
  | "express-session"
  | "v4";

/** `cachetime` of the cached variant, in seconds. */
export const CACHETIME = 30;

/** The HTTP variants of `npm run bench`, baseline first. */
export const VARIANTS: readonly { variant: Variant; label: string }[] = [
  { variant: "express", label: "Express 5, no session (baseline)" },
  { variant: "ours", label: "express-redis-sessions, req.rs.get()" },
  { variant: "ours-cached", label: `express-redis-sessions, cachetime ${CACHETIME}` },
  { variant: "express-session", label: "express-session 1.19 + connect-redis 9" },
  { variant: "v4", label: "minimal middleware over redis-sessions 4.0.0" },
];

/**
 * The pair bench/otel-overhead.ts compares: the middleware with its OpenTelemetry bridge off,
 * and as it runs by default (@opentelemetry/api installed, no SDK registered).
 */
export const TELEMETRY_VARIANTS: readonly { variant: Variant; label: string }[] = [
  { variant: "ours-untraced", label: "express-redis-sessions, openTelemetry: false" },
  { variant: "ours", label: "express-redis-sessions, OpenTelemetry API without an SDK" },
];

/** The HTTP variants of the scale mode: what one session read costs Redis, with `touchAfter`. */
export function scaleVariants(touchAfter: number): readonly { variant: Variant; label: string }[] {
  return [
    { variant: "ours", label: "ours, compat layout" },
    { variant: "ours-touch", label: `ours, compat layout, touchAfter ${touchAfter}` },
    { variant: "ours-cluster", label: "ours, cluster layout" },
    { variant: "ours-cluster-touch", label: `ours, cluster layout, touchAfter ${touchAfter}` },
    { variant: "express-session", label: "express-session 1.19 + connect-redis 9" },
  ];
}
