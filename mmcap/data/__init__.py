"""Data: vocabulary, readers of user files, the demo set, records, tf.data."""
