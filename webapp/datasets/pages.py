"""The studio page (datasets, jobs, models): frontend/studio.html as built by Vite."""

from webapp.kdsam_studio.frontend_pages import frontend_page

studio_page = frontend_page("studio.html")
