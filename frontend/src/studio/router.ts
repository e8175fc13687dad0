/**
 * A small hash router for the studio page (`/studio/#/datasets/5`). Sections (datasets now, jobs
 * later) register routes and a nav entry; a page's render may return a cleanup function (stop
 * polling) that runs when the user navigates away.
 */

export type Params = Record<string, string>;
export type Cleanup = () => void;

export interface RouteContext {
  params: Params;
  /** The element the page renders into (emptied before render). */
  view: HTMLElement;
  /** Navigate to another studio path, e.g. `/datasets/5`. */
  navigate: (path: string) => void;
  /** True once the user has left this page (stop async work). */
  isActive: () => boolean;
}

export interface Route {
  /** e.g. `/datasets/:id`; `:name` matches one path segment. */
  pattern: string;
  render: (ctx: RouteContext) => void | Cleanup | Promise<void | Cleanup>;
}

export interface NavEntry {
  label: string;
  /** Studio path the link opens; the entry is highlighted for every path under it. */
  path: string;
}

interface Compiled {
  route: Route;
  regex: RegExp;
  keys: string[];
}

export function compilePattern(pattern: string): { regex: RegExp; keys: string[] } {
  const keys: string[] = [];
  const body = pattern
    .replace(/\/+$/, '')
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) {
        keys.push(segment.slice(1));
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { regex: new RegExp(`^${body}/?$`), keys };
}

/** The query part of the current hash (`#/jobs/new/export?model_version=3` → `model_version=3`). */
export function hashQuery(hash: string = typeof location === 'undefined' ? '' : location.hash): URLSearchParams {
  const i = hash.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : hash.slice(i + 1));
}

/** `#/datasets/5?x` → `/datasets/5`; empty → `/`. */
export function hashPath(hash: string): string {
  const raw = hash.replace(/^#/, '').split('?')[0];
  if (!raw || raw === '/') return '/';
  return raw.startsWith('/') ? raw : `/${raw}`;
}

/** True when `path` is `base` or below it (for nav highlighting). */
export function isUnder(path: string, base: string): boolean {
  const b = base.replace(/\/+$/, '');
  return path === b || path.startsWith(`${b}/`);
}

export class Router {
  private readonly compiled: Compiled[] = [];
  readonly nav: NavEntry[] = [];

  add(route: Route): this {
    this.compiled.push({ route, ...compilePattern(route.pattern) });
    return this;
  }

  addNav(entry: NavEntry): this {
    this.nav.push(entry);
    return this;
  }

  /** The first route matching `path` (static segments win only by order of registration). */
  match(path: string): { route: Route; params: Params } | null {
    for (const { route, regex, keys } of this.compiled) {
      const m = regex.exec(path);
      if (!m) continue;
      const params: Params = {};
      keys.forEach((key, i) => {
        params[key] = decodeURIComponent(m[i + 1]);
      });
      return { route, params };
    }
    return null;
  }
}

export interface MountOptions {
  view: HTMLElement;
  nav?: HTMLElement;
  /** Path shown for `#/` and unknown paths. */
  home: string;
  onError?: (err: unknown) => void;
  win?: Window;
}

/** Render the route of the current hash now and on every hash change. */
export function mountRouter(router: Router, opts: MountOptions): { navigate: (path: string) => void } {
  const win = opts.win ?? window;
  let cleanup: Cleanup | null = null;
  let generation = 0;

  const navigate = (path: string) => {
    win.location.hash = `#${path}`;
  };

  const renderNav = (path: string) => {
    if (!opts.nav) return;
    opts.nav.replaceChildren(
      ...router.nav.map((entry) => {
        const a = document.createElement('a');
        a.href = `#${entry.path}`;
        a.textContent = entry.label;
        if (isUnder(path, entry.path)) a.setAttribute('aria-current', 'page');
        return a;
      }),
    );
  };

  const render = async () => {
    const path = hashPath(win.location.hash);
    const found = router.match(path);
    if (!found) {
      navigate(opts.home);
      return;
    }
    cleanup?.();
    cleanup = null;
    const mine = ++generation;
    renderNav(path);
    opts.view.replaceChildren();
    opts.view.dataset.route = found.route.pattern;
    try {
      const result = await found.route.render({
        params: found.params,
        view: opts.view,
        navigate,
        isActive: () => mine === generation,
      });
      if (typeof result === 'function') {
        if (mine === generation) cleanup = result;
        else result();
      }
    } catch (err) {
      opts.onError?.(err);
    }
  };

  win.addEventListener('hashchange', () => void render());
  void render();
  return { navigate };
}
