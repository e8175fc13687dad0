"""The Django project of KD-SAM Studio."""
