"""PyTorch twins of mmcap's benchmarked models, for `python -m mmcap.benchmark
--compare=torch`: the same functions (same weights in, same logits, losses,
beam search and retrieval scores out) written as a competent PyTorch 2.x user
would write them, so that the comparison measures the frameworks, not the
implementations. Only imported when that comparison is asked for. One
difference is by design: the twin trains on every position, as a PyTorch
user writes it (F.cross_entropy with ignore_index for <pad>, LSTMs over
every step of every row), where mmcap's training computes only the
positions with a target (models/positions.py: the softmax layer, LRCN's
input projections, and LRCN's recurrence steps past every caption in a
block of rows); the training rows' lead includes that.

Stock layers where they fit: nn.Embedding, nn.Linear, and nn.LSTM for every
LSTM without the image. nn.LSTM cannot add a per-example static term to its
gates, so LRCN's image layer is `ImageLSTM`: x.W_x + b and W_img.f hoisted
out of the time loop (the image's once per caption), then one addmm and the
gate arithmetic per step. Chosen over nn.LSTM on [input, image] at every
step by forward+backward at the compare size (2 CPU threads, medians of 12):
1u 210 vs 390 ms, 2u 320 vs 500 ms, 2f 310 vs 480 ms. m-RNN's ReLU recurrence
is the same kind of loop (as fast as nn.RNN, which would need an identity
input weight).
"""

from collections.abc import Callable
from typing import Any

import flax.linen as linen
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmcap.core.benchmark import Settings
from mmcap.core.config import base_config
from mmcap.data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from mmcap.models.activity import ActivityConfig
from mmcap.models.captioner import Captioner, ModelConfig
from mmcap.models.lrcn import IMAGE_LAYER

_NEG_INF = -1e9  # mmcap.decode's score of the beams that start ended
State = dict[str, torch.Tensor]  # a decoder's state: tensors [B, ...]


def _tensor(x) -> torch.Tensor:
  return torch.tensor(np.asarray(x, np.float32))


def _transposed(kernel) -> nn.Parameter:
  """A Flax kernel [D, N] as a torch weight [N, D]."""
  return nn.Parameter(_tensor(kernel).t().contiguous())


def _linear(params) -> nn.Linear:
  """nn.Linear holding a Flax Dense layer's kernel [D, N] (and bias)."""
  kernel = _tensor(params['kernel'])
  linear = nn.Linear(*kernel.shape, bias='bias' in params)
  with torch.no_grad():
    linear.weight.copy_(kernel.t())
    if 'bias' in params:
      linear.bias.copy_(_tensor(params['bias']))
  return linear


def _torch_gates(x) -> torch.Tensor:
  """An mmcap gate kernel [D, 4H] or bias [4H] (gates i, f, o, g) in
  nn.LSTM's layout [4H, D] (gates i, f, g, o)."""
  i, f, o, g = _tensor(x).chunk(4, -1)
  return torch.cat([i, f, g, o], -1).t()


def _nn_lstm(params) -> nn.LSTM:
  """nn.LSTM (batch first) holding an mmcap LSTM layer without static input;
  bias_hh is zero and frozen, so the layer has mmcap's single bias."""
  kernel, bias = params['input_proj']['kernel'], params['input_proj']['bias']
  lstm = nn.LSTM(kernel.shape[0], params['recurrent_kernel'].shape[0], batch_first=True)
  lstm.load_state_dict({
      'weight_ih_l0': _torch_gates(kernel), 'bias_ih_l0': _torch_gates(bias),
      'weight_hh_l0': _torch_gates(params['recurrent_kernel']),
      'bias_hh_l0': torch.zeros(len(bias))})
  lstm.bias_hh_l0.requires_grad_(False)
  return lstm


class ImageLSTM(nn.Module):
  """An LSTM layer with the image as a static input, its projections hoisted
  out of the time loop. Weights as nn.LSTM's ([4H, D]) but gates in mmcap's
  order i, f, o, g, so that one sigmoid covers i, f and o."""

  def __init__(self, params: Any):
    super().__init__()
    self.weight_ih = _transposed(params['input_proj']['kernel'])
    self.bias = nn.Parameter(_tensor(params['input_proj']['bias']))
    self.weight_image = _transposed(params['static_proj']['kernel'])
    self.weight_hh = _transposed(params['recurrent_kernel'])

  def input_gates(self, x: torch.Tensor) -> torch.Tensor:
    """x.W_x + b, [..., 4H]."""
    return F.linear(x, self.weight_ih, self.bias)

  def image_gates(self, image: torch.Tensor) -> torch.Tensor:
    """W_img.f, [B, 4H]."""
    return F.linear(image, self.weight_image)

  def step(self, gates: torch.Tensor, h: torch.Tensor,
           c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The new (h, c) from the hoisted gate inputs [B, 4H]."""
    gates = torch.addmm(gates, h, self.weight_hh.t())
    hidden = h.shape[1]
    i, f, o = torch.sigmoid(gates[:, :3 * hidden]).chunk(3, 1)
    c = f * c + i * torch.tanh(gates[:, 3 * hidden:])
    return o * torch.tanh(c), c

  def recur(self, gates_btg: torch.Tensor) -> torch.Tensor:
    """Hidden states [B, T, H] from zero states and hoisted gate inputs."""
    h = c = gates_btg.new_zeros(gates_btg.shape[0], self.weight_hh.shape[1])
    hs = []
    for gates in gates_btg.unbind(1):
      h, c = self.step(gates, h, c)
      hs.append(h)
    return torch.stack(hs, 1)


class VocabularyLogits(nn.Module):
  """Logits over the padded vocabulary; the padding columns get -1e9."""

  def __init__(self, params: Any, vocab_size: int):
    super().__init__()
    self.linear = _linear(params)
    ids = torch.arange(self.linear.out_features)
    self.register_buffer('padding', torch.where(ids < vocab_size, 0.0, -1e9))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.linear(x) + self.padding


class LRCN(nn.Module):
  """mmcap.models.lrcn.LRCN: embedding -> LSTM(s), the image into one ->
  softmax. Dropout on the image features in training."""

  def __init__(self, config: ModelConfig, params: Any):
    super().__init__()
    self.image_layer = IMAGE_LAYER[config.variant]
    self.hidden_dim = config.hidden_dim
    self.embed = nn.Embedding.from_pretrained(
        _tensor(params['embed']['embedding']), freeze=False)
    self.lstms = nn.ModuleList(
        (ImageLSTM if k == self.image_layer else _nn_lstm)(params[f'lstms_{k}'])
        for k in range(1 if config.variant == '1u' else 2))
    self.dropout = nn.Dropout(config.dropout)
    self.output = VocabularyLogits(params['output']['Dense_0'], config.vocab_size)

  def forward(self, features: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Next-word logits [B, T, V_padded]."""
    image_terms = self.image_terms(self.dropout(features))
    return self.pair_logits(self.sentence_terms(inputs), image_terms)

  def init_decode(self, features: torch.Tensor) -> State:
    """Zero states h, c [B, layers, H] and the image's gate term, once."""
    zeros = features.new_zeros(len(features), len(self.lstms), self.hidden_dim)
    return {'h': zeros, 'c': zeros, 'image_gates': self.image_terms(features)}

  def decode_step(self, state: State, tokens: torch.Tensor) -> tuple[torch.Tensor, State]:
    """Logits [B, V_padded] of the next word, and the new state."""
    x, hs, cs = self.embed(tokens), [], []
    for k, lstm in enumerate(self.lstms):
      h, c = state['h'][:, k], state['c'][:, k]
      if k == self.image_layer:
        x, c = lstm.step(lstm.input_gates(x) + state['image_gates'], h, c)
      else:
        _, (x, c) = lstm(x[:, None], (h[None], c[None]))
        x, c = x[0], c[0]
      hs.append(x)
      cs.append(c)
    return self.output(x), {**state, 'h': torch.stack(hs, 1), 'c': torch.stack(cs, 1)}

  def sentence_terms(self, inputs: torch.Tensor) -> torch.Tensor:
    """The layers below the image layer and its input projection, [B, T, 4H]."""
    h = self.embed(inputs)
    for lstm in self.lstms[:self.image_layer]:
      h = lstm(h)[0]
    return self.lstms[self.image_layer].input_gates(h)

  def image_terms(self, features: torch.Tensor) -> torch.Tensor:
    """Each image's gate term, [B, 4H]."""
    return self.lstms[self.image_layer].image_gates(features)

  def pair_logits(self, sentence_terms: torch.Tensor,
                  image_terms: torch.Tensor) -> torch.Tensor:
    """Logits [P, T, V_padded] of P (sentence, image) pairs of terms."""
    h = self.lstms[self.image_layer].recur(sentence_terms + image_terms[:, None])
    for lstm in self.lstms[self.image_layer + 1:]:
      h = lstm(h)[0]
    return self.output(h)


def _scaled_tanh(x: torch.Tensor) -> torch.Tensor:
  return 1.7159 * torch.tanh(2.0 * x / 3.0)


class MRNN(nn.Module):
  """mmcap.models.mrnn.MRNN (m-RNN, or RNN-Base without the image term).
  Dropout on m(t) in training."""

  def __init__(self, config: ModelConfig, params: Any):
    super().__init__()
    self.use_image = config.name == 'mrnn'
    self.multimodal_dim = config.multimodal_dim
    self.embed_1 = nn.Embedding.from_pretrained(
        _tensor(params['embed_1']['embedding']), freeze=False)
    self.embed_2 = _linear(params['embed_2'])
    self.recurrent_kernel = _transposed(params['recurrent']['recurrent_kernel'])  # U_r
    self.multimodal_word = _linear(params['multimodal_word'])
    self.multimodal_recurrent = _linear(params['multimodal_recurrent'])
    if self.use_image:
      self.multimodal_image = _linear(params['multimodal_image'])
    self.dropout = nn.Dropout(config.dropout)
    self.output = VocabularyLogits(params['output']['Dense_0'], config.vocab_size)

  def _recur(self, w: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """r(t) = relu(U_r r(t-1) + w(t)) of one step."""
    return torch.relu(torch.addmm(w, r, self.recurrent_kernel.t()))

  def forward(self, features: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Next-word logits [B, T, V_padded]."""
    pre = self.sentence_terms(inputs)
    if self.use_image:
      pre = pre + self.image_terms(features)[:, None]
    return self.output(self.dropout(_scaled_tanh(pre)))

  def init_decode(self, features: torch.Tensor) -> State:
    """Zero r(0) and the image term, once."""
    r = features.new_zeros(len(features), self.recurrent_kernel.shape[0])
    return {'r': r, 'image_term': self.image_terms(features)}

  def decode_step(self, state: State, tokens: torch.Tensor) -> tuple[torch.Tensor, State]:
    """Logits [B, V_padded] of the next word, and the new state."""
    w = self.embed_2(self.embed_1(tokens))
    r = self._recur(w, state['r'])
    pre = self.multimodal_word(w) + self.multimodal_recurrent(r) + state['image_term']
    return self.output(_scaled_tanh(pre)), {**state, 'r': r}

  def sentence_terms(self, inputs: torch.Tensor) -> torch.Tensor:
    """V_w w(t) + V_r r(t) + b, [B, T, M]."""
    w = self.embed_2(self.embed_1(inputs))
    r, rs = w.new_zeros(w.shape[0], w.shape[2]), []
    for w_t in w.unbind(1):
      r = self._recur(w_t, r)
      rs.append(r)
    return self.multimodal_word(w) + self.multimodal_recurrent(torch.stack(rs, 1))

  def image_terms(self, features: torch.Tensor) -> torch.Tensor:
    """V_I I, [B, M]; zeros for RNN-Base."""
    if not self.use_image:
      return features.new_zeros(len(features), self.multimodal_dim)
    return self.multimodal_image(features)

  def pair_logits(self, sentence_terms: torch.Tensor,
                  image_terms: torch.Tensor) -> torch.Tensor:
    """Logits [P, T, V_padded] of P (sentence, image) pairs of terms."""
    return self.output(_scaled_tanh(sentence_terms + image_terms[:, None]))


def captioner(model: Captioner, params: Any) -> nn.Module:
  """The twin of an mmcap LRCN, m-RNN or RNN-Base with its Flax `params`."""
  config = model.config
  if config.name == 'lrcn':
    return LRCN(config, params)
  if config.name in ('mrnn', 'rnn_base'):
    return MRNN(config, params)
  raise ValueError(f'no PyTorch twin of {config.name!r}')


class LRCNActivity(nn.Module):
  """mmcap.models.activity.LRCNActivity: ReLU -> dropout -> LSTM -> dropout
  -> classifier at every frame."""

  def __init__(self, config: ActivityConfig, params: Any):
    super().__init__()
    self.input_dropout = nn.Dropout(config.input_dropout)
    self.lstm = _nn_lstm(params['lstm'])
    self.output_dropout = nn.Dropout(config.output_dropout)
    self.classifier = _linear(params['classifier'])

  def forward(self, clip: torch.Tensor) -> torch.Tensor:
    """Class logits [B, T, C] of frames [B, T, D]."""
    h = self.lstm(self.input_dropout(torch.relu(clip)))[0]
    return self.classifier(self.output_dropout(h))


def activity(model: linen.Module, params: Any) -> nn.Module:
  """The twin of an mmcap LRCNActivity or SingleFrame with its Flax `params`."""
  config = model.config
  if config.name == 'lrcn':
    return LRCNActivity(config, params)
  layers = [nn.ReLU(), nn.Dropout(config.input_dropout)]
  if config.hidden_dim:
    layers += [_linear(params['hidden']), nn.ReLU(), nn.Dropout(config.output_dropout)]
  return nn.Sequential(*layers, _linear(params['classifier']))


def to_torch(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
  """A batch of numpy arrays as tensors; integer arrays become int64."""
  as_torch = lambda v: np.asarray(v, np.int64 if np.issubdtype(v.dtype, np.integer) else v.dtype)
  return {k: torch.from_numpy(as_torch(v)) for k, v in batch.items()}


def next_word_loss(module: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
  """Summed next-word NLL over the non-<pad> targets / their number."""
  logits = module(batch['features'], batch['inputs'])
  targets = batch['targets']
  nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD_ID,
                        reduction='sum')
  return nll / (targets != PAD_ID).sum().clamp(min=1)


def frame_loss(module: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
  """Cross-entropy at every frame, averaged over the frames of mask 1."""
  logits = module(batch['clip'])
  labels = batch['label'][:, None].expand(logits.shape[:2])
  nll = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction='none')
  mask = batch['mask'].flatten()
  return (nll * mask).sum() / mask.sum().clamp(min=1)


def train_step_fn(module: nn.Module, loss_fn: Callable, lr: float = 0.01,
                  momentum: float = 0.9, clip_norm: float = 0.0) -> Callable[[dict], torch.Tensor]:
  """`step(batch) -> loss`: one SGD-with-momentum step of `module` (in
  training mode) on `loss_fn(module, batch)`, its gradient first clipped to
  global L2 norm `clip_norm` (0: not clipped)."""
  optimizer = torch.optim.SGD(module.parameters(), lr=lr, momentum=momentum)
  module.train()

  def step(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(module, batch)
    loss.backward()
    if clip_norm:
      nn.utils.clip_grad_norm_(module.parameters(), clip_norm)
    optimizer.step()
    return loss.detach()

  return step


@torch.inference_mode()
def beam_search(module: nn.Module, features: torch.Tensor, max_steps: int, beam_size: int,
                vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
  """mmcap.decode.beam_search (length_alpha 0, no <unk>): the best of
  `beam_size` beams by summed log-probability; tokens [B, max_steps] (int64)
  and their scores [B]."""
  batch, beams, device = len(features), beam_size, features.device
  state = {k: v.repeat_interleave(beams, 0) for k, v in module.init_decode(features).items()}
  scores = torch.full((batch, beams), _NEG_INF, device=device)
  scores[:, 0] = 0.0
  done = torch.ones(batch, beams, dtype=torch.bool, device=device)
  done[:, 0] = False
  out = torch.full((batch, beams, max_steps), PAD_ID, device=device)
  tokens = torch.full((batch, beams), BOS_ID, device=device)
  rows = torch.arange(batch, device=device)[:, None]
  offsets = rows * beams
  ids = torch.arange(module.output.linear.out_features, device=device)
  banned = (ids == PAD_ID) | (ids == BOS_ID) | (ids == UNK_ID) | (ids >= vocab_size)
  # An ended beam goes on only as itself: <pad>, score unchanged.
  stay, vocab = torch.where(ids == PAD_ID, 0.0, -torch.inf), len(ids)
  for step in range(max_steps):
    if done.all():
      break
    logits, state = module.decode_step(state, tokens.flatten())
    logits = logits.masked_fill(banned | (ids == EOS_ID) if step == 0 else banned, -torch.inf)
    word_scores = torch.log_softmax(logits.float(), -1).view(batch, beams, vocab)
    word_scores = torch.where(done[:, :, None], stay, word_scores)
    scores, index = (scores[:, :, None] + word_scores).view(batch, -1).topk(beams)
    beam_index, tokens = index // vocab, index % vocab
    state = {k: v[(beam_index + offsets).flatten()] for k, v in state.items()}
    out = out[rows, beam_index]
    out[:, :, step] = tokens
    done = done[rows, beam_index] | (tokens == EOS_ID)
  best = scores.argmax(1)
  return out[rows[:, 0], best], scores[rows[:, 0], best]


def _block_scores(module: nn.Module, sentence_terms: torch.Tensor, image_terms: torch.Tensor,
                  targets: torch.Tensor) -> torch.Tensor:
  """log P(S|I) [images, sentences] of every image with every sentence: on
  a CPU one image at a time, on a GPU all at once (as mmcap's block_scores
  on each)."""
  num_images, num_sentences = len(image_terms), len(sentence_terms)
  step = 1 if image_terms.device.type == 'cpu' else num_images
  rows = []
  for start in range(0, num_images, step):
    images = image_terms[start:start + step]
    logits = module.pair_logits(sentence_terms.repeat(len(images), 1, 1),
                                images.repeat_interleave(num_sentences, 0))
    nll = F.cross_entropy(logits.flatten(0, 1), targets.repeat(len(images), 1).flatten(),
                          ignore_index=PAD_ID, reduction='none')
    rows.append(-nll.view(len(images), num_sentences, -1).sum(2))
  return torch.cat(rows)


@torch.inference_mode()
def pair_scores(module: nn.Module, features: torch.Tensor, inputs: torch.Tensor,
                targets: torch.Tensor, images_per_block: int,
                sentences_per_block: int) -> np.ndarray:
  """log P(sentence | image) of every pair, [I, S], as mmcap.evaluation.
  retrieval.pair_scores computes it: sentences in blocks of similar length,
  each cut at its longest, their sentence terms computed once and reused for
  every block of images."""
  steps = targets.shape[1]
  lengths = torch.where(targets != PAD_ID, torch.arange(1, steps + 1, device=targets.device),
                        0).amax(1)
  blocks = []
  for index in lengths.argsort(stable=True).split(sentences_per_block):
    cut = max(1, int(lengths[index].max()))
    blocks.append((index, module.sentence_terms(inputs[index, :cut]), targets[index, :cut]))
  scores = torch.empty(len(features), len(inputs), device=features.device)
  for start in range(0, len(features), images_per_block):
    image_terms = module.image_terms(features[start:start + images_per_block])
    for index, terms, block_targets in blocks:
      scores[start:start + len(image_terms), index] = _block_scores(
          module, terms, image_terms, block_targets)
  return scores.float().cpu().numpy()


# Timing for the benchmark: the twin on the benchmark's device (a GPU where
# torch sees one), in bf16 under autocast where the benchmark's dtype is.

DEVICE = torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def _call(work: Callable[[], Any], dtype: str) -> Callable[[], None]:
  """`work` as the benchmark times it: under autocast to bf16 where the
  benchmark's dtype is, returning when the device is done."""

  def call():
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=dtype == 'bfloat16'):
      work()
    if DEVICE.type == 'cuda':
      torch.cuda.synchronize()

  return call


def train_call(module: nn.Module, loss_fn: Callable, batch: dict[str, np.ndarray],
               settings: Settings) -> Callable[[], None]:
  """One step of the twin `module` on `batch` per call, with the optimizer
  of mmcap's benchmark (base_config's: SGD, momentum, gradient clipping)."""
  module.to(DEVICE)
  optimizer = base_config().optimizer
  step = train_step_fn(module, loss_fn, optimizer.learning_rate, optimizer.momentum,
                       optimizer.grad_clip_norm)
  batch = {k: v.to(DEVICE) for k, v in to_torch(batch).items()}
  return _call(lambda: step(batch), settings.dtype)


def decode_call(module: nn.Module, features: np.ndarray, max_steps: int, beam_size: int,
                vocab_size: int, settings: Settings) -> Callable[[], None]:
  """A beam search of the twin over all of `features` per call."""
  module.to(DEVICE).eval()
  features = torch.from_numpy(features).to(DEVICE)
  return _call(lambda: beam_search(module, features, max_steps, beam_size, vocab_size),
               settings.dtype)


def retrieval_call(module: nn.Module, features: np.ndarray, batch: dict[str, np.ndarray],
                   images_per_block: int, sentences_per_block: int,
                   settings: Settings) -> Callable[[], None]:
  """One pair_scores of the twin, every image with every sentence, per call."""
  module.to(DEVICE).eval()
  tensors = {k: v.to(DEVICE) for k, v in to_torch(batch).items()}
  features = torch.from_numpy(features).to(DEVICE)
  return _call(lambda: pair_scores(module, features, tensors['inputs'], tensors['targets'],
                                   images_per_block, sentences_per_block), settings.dtype)
