"""Video clips -> class: LRCN activity recognition and its single-frame
baseline on per-frame features of one stream (RGB or optical flow), with
clip-averaged video accuracy; late fusion of two streams is mmcap/fuse.py."""
