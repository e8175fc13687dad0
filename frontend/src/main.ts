/**
 * KD-SAM Studio app: wires the API client, the live status feed, the image
 * list, the upload control, the decoder worker and the viewer together.
 */
import './styles.css';
import { ApiClient, browserDecoderUrl, errorMessage, type ImageObject, type ModelVersion } from './api';
import { Decoder } from './decoder';
import { ImageList, latestOf } from './image-list';
import { ImageStatusFeed } from './socket';
import { Viewer } from './viewer';
// privacy mode: the student encoder in the browser (privacy.ts, encoder.ts, encoder.worker.ts)
import { BrowserEncoder } from './encoder';
import { LocalImages, PrivacyUi } from './privacy';
import { getPrivacyConfig } from './privacy-api';
import { loadSession } from './signed-in';
import { mountSignOut } from './sign-out';

function $<T extends HTMLElement>(selector: string): T {
  const el = document.querySelector<T>(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

const errorBox = $<HTMLDivElement>('#error-message');

function showError(message: string, loginLink = false): void {
  errorBox.replaceChildren(document.createTextNode(message));
  if (loginLink) {
    const a = document.createElement('a');
    a.href = `/accounts/login/?next=${encodeURIComponent(location.pathname)}`;
    a.textContent = 'Log in';
    errorBox.append(' ', a);
  }
  errorBox.hidden = false;
}

function clearError(): void {
  errorBox.hidden = true;
  errorBox.replaceChildren();
}

errorBox.addEventListener('click', (ev) => {
  if (!(ev.target instanceof HTMLAnchorElement)) clearError();
});

/** Header model name, and the #weights-banner whenever the weights are random. */
function showModel(model: ModelVersion): void {
  $('#model-name').textContent = model.name;
  document.querySelector('#weights-banner')?.remove();
  if (model.weights === 'random') {
    const banner = document.createElement('div');
    banner.id = 'weights-banner';
    banner.className = 'weights-banner';
    banner.setAttribute('role', 'alert');
    banner.textContent =
      model.banner || 'This model has random weights: its masks are meaningless. Load trained weights on the server.';
    $('#banner-slot').append(banner);
  }
}

async function main(): Promise<void> {
  const api = new ApiClient();
  const decoder = new Decoder();

  const feed = new ImageStatusFeed({
    fetchImage: (id) => api.getImage(id),
    onConnectionChange: (live) => {
      const c = $('#connection');
      c.textContent = live ? 'live' : 'polling';
      c.classList.toggle('live', live);
    },
  });

  // 1. who is logged in; the browser's caches are this session's (session-caches.ts)
  mountSignOut($<HTMLButtonElement>('#sign-out-button'), showError);
  try {
    const session = await loadSession(() => api.getSession());
    $('#user-name').textContent = session.user.username;
  } catch (err) {
    if ((err as { status?: number }).status === 403) {
      showError('You are not logged in.', true);
    } else {
      showError(errorMessage(err));
    }
    $('#connection').textContent = '';
    return;
  }

  // ---- privacy mode: deployment setting + user choice; local images are embedded in the browser
  const encoder = new BrowserEncoder();
  const privacy: PrivacyUi = new PrivacyUi(
    {
      badge: $('#privacy-badge'),
      toggle: $<HTMLInputElement>('#privacy-toggle'),
      toggleLabel: $('#privacy-toggle-label'),
      exportsPanel: $('#privacy-exports'),
      downloadPng: $<HTMLButtonElement>('#privacy-download-png'),
      downloadCoco: $<HTMLButtonElement>('#privacy-download-coco'),
    },
    new LocalImages(encoder, () => privacy.config, undefined, ({ preprocessMs, runMs, info }) => {
      const root = $('#viewer');
      root.dataset.encoderBackend = info.backend;
      root.dataset.encoderThreads = String(info.numThreads);
      root.dataset.lastEncodeMs = runMs.toFixed(1);
      root.dataset.lastPreprocessMs = preprocessMs.toFixed(1);
    }),
    showError,
  );
  const privacyReady = privacy.load(() => getPrivacyConfig(api));
  // ---- /privacy mode

  // 2. the active model; its (multimask) decoder loads in the worker while the rest starts
  const model: Promise<ModelVersion> = api.getActiveModel().then(async (m) => {
    showModel(m);
    let info;
    try {
      info = await decoder.init(api.url(browserDecoderUrl(m.id)));
    } catch (err) {
      // without the multimask decoder the app still works with the official one (no candidates)
      console.warn(`multimask decoder unavailable (${errorMessage(err)}); using ${m.decoder_onnx_url}`);
      info = await decoder.init(api.url(m.decoder_onnx_url));
    }
    $('#mode-indicator').textContent = `decoder in your browser (WASM, ${info.numThreads} thread${info.numThreads === 1 ? '' : 's'})`; // where the encoder runs: #privacy-badge
    console.info(`KD-SAM decoder ready: ${m.name}, ${info.numThreads} wasm thread(s)`);
    document.body.dataset.decoderState = 'ready'; // session created and warmed up (tests, benchmarks)
    return m;
  });
  model.catch((err) => showError(`Cannot load the model: ${errorMessage(err)}`));
  // the model picker: published versions (GET /api/models/), the active one when the list is empty
  void model.then(async (active) => {
    const picker = $<HTMLSelectElement>('#model-picker');
    let versions: ModelVersion[];
    try {
      versions = await api.listModels();
    } catch {
      versions = [];
    }
    if (!versions.some((v) => v.id === active.id)) versions = [active, ...versions];
    picker.replaceChildren(
      ...versions.map((v) => {
        const o = document.createElement('option');
        o.value = String(v.id);
        o.textContent = `${v.name}${v.id === active.id ? ' (active)' : ''}`;
        o.selected = v.id === active.id;
        return o;
      }),
    );
  }, () => undefined);

  const viewer = new Viewer(
    {
      root: $('#viewer'),
      viewport: $('#viewport'),
      stage: $('#stage'),
      imageCanvas: $('#image-canvas'),
      objectsCanvas: $('#objects-canvas'),
      markerCanvas: $('#marker-canvas'),
      overlay: $('#mask-overlay'),
      clearButton: $('#clear-button'),
      undoButton: $('#undo-button'),
      redoButton: $('#redo-button'),
      saveButton: $('#save-button'),
      newObjectButton: $('#new-object-button'),
      toolButtons: Array.from(document.querySelectorAll<HTMLButtonElement>('button.tool-button')),
      opacity: $('#opacity-input'),
      outline: $('#outline-input'),
      hover: $('#hover-input'),
      brushSize: $('#brush-size'),
      zoomIn: $('#zoom-in'),
      zoomOut: $('#zoom-out'),
      zoomFit: $('#zoom-fit'),
      candidates: $('#candidates'),
      helpButton: $('#help-button'),
      helpPanel: $('#help-panel'),
      helpTable: $('#help-table'),
      objectList: $('#object-list'),
      objectLabel: $('#object-label'),
      objectColor: $('#object-color'),
      exports: $('#object-exports'),
      imageExport: $('#image-export'),
      windowControls: $('#window-controls'),
      windowPreset: $('#window-preset'),
      windowValue: $('#window-value'),
      title: $('#viewer-title'),
      info: $('#viewer-info'),
    },
    {
      api, decoder, model, showError, clearError,
      local: privacy.local, // privacy mode
      onMasksChanged: (id) => {
        api.getImage(id).then((image) => list.upsert(image), () => undefined);
      },
    },
  );

  privacy.setExportSource(viewer); // privacy mode
  const open = (image: ImageObject): void => {
    privacy.onOpen(image); // privacy mode
    list.select(image.id);
    viewer.open(image);
  };
  const list = new ImageList($<HTMLUListElement>('#image-list'), open, $('#image-list-empty'));

  feed.subscribe((image) => {
    list.upsert(image);
    viewer.update(image);
  });

  // 3. the user's images
  try {
    const images = await api.listImages();
    list.setAll(images);
    for (const image of images) feed.track(image);
  } catch (err) {
    showError(`Cannot list your images: ${errorMessage(err)}`);
  }
  feed.start();

  // 4. uploads
  const input = $<HTMLInputElement>('#upload-input');
  input.addEventListener('change', async () => {
    const files = Array.from(input.files ?? []);
    input.value = '';
    for (const file of files) {
      try {
        // ---- privacy mode: the file is opened in this browser only, never uploaded
        await privacyReady;
        if (privacy.active) {
          const image = await privacy.local.add(file, await model);
          clearError();
          list.upsert(image);
          open(image);
          continue;
        }
        // ---- /privacy mode
        const picked = Number($<HTMLSelectElement>('#model-picker').value);
        const uploaded = await api.uploadImage(file, undefined, Number.isFinite(picked) && picked > 0 ? picked : null);
        // the socket may already have reported a later status than the upload answer
        const image = latestOf(list.get(uploaded.id), uploaded);
        clearError();
        list.upsert(image);
        feed.track(image);
        open(image);
      } catch (err) {
        showError(errorMessage(err));
      }
    }
  });
  // The input stays disabled until its handler exists, so no early file choice is lost.
  input.disabled = false;
  document.body.dataset.appState = 'ready';
}

main().catch((err) => showError(`The app failed to start: ${errorMessage(err)}`));
