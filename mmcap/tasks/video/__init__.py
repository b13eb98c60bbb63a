"""Video -> sentence: LRCN-style video description with a mean-pool (or
semantic) static input to the image captioners, or S2VT's encoder-decoder
over the frames; the captioning decoder, metrics and vocabulary, shared."""
