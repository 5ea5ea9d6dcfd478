"""The training core: what `trainer train` and the distributed workers run.

images       tf.data pipeline from labelled files (decode, square crop, resize, augment)
model        build_classifier(): backbone + dropout + dense softmax; freeze / unfreeze_top
embed        backbone embeddings of a set of images, computed once and cached on disk
progress     Progress and EpochRecord: what training reports while it runs (no TensorFlow)
fit          train(): head training, then optional fine-tuning, under any tf.distribute strategy
progressbar  the terminal view of Progress: a one-line bar on a TTY, one line an epoch otherwise
evaluate     accuracy, confusion matrix, precision/recall of a Keras or a TFLite model
export       int8 and float32 TFLite conversion; make_package() signs the result
report       report.json and report.png of a run
stock        the ImageNet 1000-class model, int8, as a package (no training)
"""
