from django.apps import AppConfig


class SegmentationConfig(AppConfig):
    name = "webapp.segmentation"
    label = "segmentation"
    verbose_name = "Segmentation"
