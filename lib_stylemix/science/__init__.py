"""Style science: does ΔW distance predict the style difference people see? (issue 14)

The core is pure numpy: style descriptors from U-Net feature maps (`features`), the 2-Wasserstein distance
between them (`distance`), the ΔW-vs-image correlation report (`correlation`), the blind A/B store
(`abtest`), epoch ranking (`epoch_rank`), the merge check (`merge_check`) and the render use-case
(`render`). Getting U-Net features out of a loaded checkpoint is the webui adapter's job
(`lib_stylemix.webui.unet_features`).
"""
