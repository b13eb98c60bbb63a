"""Data: vocabulary, readers of user files (Karpathy JSON, Flickr8k, UCF101),
the demo sets (captions, videos), prepared records, tf.data pipelines."""
