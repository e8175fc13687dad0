/**
 * Signing out from the app (the header's #sign-out-button, on the app and the studio pages): the
 * app's caches are deleted first (session-caches.ts; the server's Clear-Site-Data is not counted
 * on), then POST /accounts/logout/ ends the session, then the sign-in page opens. A refused
 * sign-out stays on the page and says why.
 */
import { HttpClient, errorMessage } from './api';
import { sessionCaches, type SessionCaches } from './session-caches';

export const LOGOUT_URL = '/accounts/logout/';
export const LOGIN_URL = '/accounts/login/';

export class AccountsApi extends HttpClient {
  /** POST /accounts/logout/ (Django's sign-out; it answers with a redirect to the sign-in page). */
  async logout(): Promise<void> {
    await this.send(LOGOUT_URL, { method: 'POST', headers: { Accept: 'text/html' } });
  }
}

export interface SignOutDeps {
  caches: Pick<SessionCaches, 'end'>;
  logout(): Promise<unknown>;
  navigate(url: string): void;
}

export async function signOut(deps: SignOutDeps): Promise<void> {
  try {
    await deps.caches.end();
  } catch (err) {
    console.warn(`Cannot delete the app's caches: ${errorMessage(err)}`); // the server's Clear-Site-Data still asks
  }
  await deps.logout();
  deps.navigate(LOGIN_URL);
}

/** Wires the sign-out button. */
export function mountSignOut(
  button: HTMLButtonElement,
  showError: (message: string) => void,
  deps: SignOutDeps = { caches: sessionCaches, logout: () => new AccountsApi().logout(), navigate: (url) => location.assign(url) },
): void {
  button.addEventListener('click', () => {
    button.disabled = true;
    signOut(deps).catch((err: unknown) => {
      button.disabled = false;
      showError(`Signing out failed: ${errorMessage(err)}`);
    });
  });
}
