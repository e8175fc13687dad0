"""Training of KD-SAM: phase 1 (encoder distillation) and phase 2 (decoder fine-tuning).

Modules: ``distill`` (phase 1), ``finetune`` (phase 2), ``prompts`` (prompt simulation),
``caches`` (on-disk embedding caches), ``progress`` (callbacks), ``ddp`` (torchrun / DDP),
``data`` (the minimal sample protocol).
"""
