"""The pretrained feature extractor: EfficientNet-Lite0 with ImageNet weights, in tf-keras.

    efficientnet_lite  build_backbone(): the network, its ImageNet weights mapped onto it
    torchfile          load_state_dict(): reads the legacy torch.save weights, without torch
    labels             imagenet_labels(): the 1000 class names of the logits

Only efficientnet_lite imports TensorFlow; the other two stay light.
"""
