/**
 * Who is signed in (GET /api/session/), and what it means for the browser's caches: a known
 * session names the caches and deletes those of every other session (a previous user who did not
 * sign out, a session that expired); a session that is over (403) leaves no cache of the app.
 * Both pages (the app and the studio) start with it.
 */
import type { Session } from './api-types';
import { sessionCaches, type SessionCaches } from './session-caches';

export async function loadSession(
  getSession: () => Promise<Session>,
  caches: Pick<SessionCaches, 'begin' | 'end'> = sessionCaches,
): Promise<Session> {
  let session: Session;
  try {
    session = await getSession();
  } catch (err) {
    if ((err as { status?: number }).status === 403) await caches.end().catch(warn);
    throw err;
  }
  await caches.begin(session.cache_key).catch(warn);
  return session;
}

function warn(err: unknown): void {
  console.warn(`Cannot delete the caches of other sessions: ${err instanceof Error ? err.message : String(err)}`);
}
