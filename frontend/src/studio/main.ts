/**
 * The studio page (/studio/): a nav shell and a hash router. Sections register their routes and
 * nav entry here — datasets now; jobs pages are added the same way (registerJobRoutes(router, …)).
 */
import '../styles.css';
import './studio.css';
import { errorMessage } from '../api';
import { DatasetsApi } from './datasets-api';
import { registerDatasetRoutes } from './pages/datasets';
import { registerJobRoutes, registerModelRoutes } from './pages/jobs';
import { Router, mountRouter } from './router';
import { loadSession } from '../signed-in';
import { mountSignOut } from '../sign-out';

function $<T extends HTMLElement>(selector: string): T {
  const el = document.querySelector<T>(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

const errorBox = $<HTMLDivElement>('#studio-error');

function showError(message: string): void {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

errorBox.addEventListener('click', () => {
  errorBox.hidden = true;
});
window.addEventListener('hashchange', () => {
  errorBox.hidden = true;
});

const api = new DatasetsApi();
const router = new Router();
registerDatasetRoutes(router, api, { showError });
registerJobRoutes(router, { showError });
registerModelRoutes(router, { showError });

mountRouter(router, {
  view: $('#studio-view'),
  nav: $('#studio-nav'),
  home: '/datasets',
  onError: (err) => showError(errorMessage(err)),
});

mountSignOut($<HTMLButtonElement>('#sign-out-button'), showError);
loadSession(() => api.session()).then(
  (session) => {
    $('#user-name').textContent = session.user.username;
    document.body.dataset.studioState = 'ready';
  },
  (err) => {
    showError(errorMessage(err));
    document.body.dataset.studioState = 'error';
  },
);
