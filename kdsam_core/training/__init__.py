"""Training of KD-SAM: phase 1 (encoder distillation) and phase 2 (decoder fine-tuning).

Modules: ``distill`` (phase 1: its config and loop), ``finetune`` (phase 2: its config and loop),
``common`` (what both share: prepared images, the epoch order, seeding, the batched encoder call),
``caches`` (on-disk embedding caches and filling them from an encoder), ``prompts`` (prompt
simulation), ``progress`` (callbacks), ``ddp`` (torchrun / DDP), ``data`` (the minimal sample protocol).
"""
