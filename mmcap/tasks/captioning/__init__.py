"""Images -> sentences: LRCN and m-RNN captioning, its evaluations
(perplexity, coco-caption metrics, likelihood retrieval) and caption mode."""
