"""The segmentation page of the web UI: frontend/index.html as built by Vite."""

from webapp.kdsam_studio.frontend_pages import frontend_page

app_page = frontend_page("index.html")
