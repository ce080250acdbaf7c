"""Curated metadata for the question bank (hand-written).

GROUPS: one line per bank question:  members | topic | level
  members: 004:N 001:N 003:N (detailed answers) 000:N (answer position) 002:N (card)
           t:N = row N of the 003 question table (no answer of its own)
  Several members = merged question (see README "Merging" and merges.md).
Q000: the reconstructed question for each 000 answer (35 and 76 survived in the source).
Q004_FIX / Q001_FIX: light typo/grammar/capitalisation fixes of source question texts.
"""

GROUPS = """
004:1 000:1 002:1 | fundamentals | basic
004:2 000:2 | fundamentals | basic
004:3 002:99 | fundamentals | basic
004:4 | applications | basic
004:5 | applications | intermediate
004:6 | fundamentals | basic
004:7 | learning-paradigms | intermediate
004:8 | fundamentals | basic
004:9 | fundamentals | basic
004:10 002:13 | fundamentals | basic
004:11 | training | basic
004:12 | fundamentals | basic
004:13 | fundamentals | basic
004:14 t:28 002:11 | fundamentals | basic
004:15 002:3 | fundamentals | basic
004:16 | fundamentals | basic
004:17 | fundamentals | intermediate
004:18 | training | intermediate
004:19 001:4 | regularization | basic
004:20 | training | basic
004:21 000:12 002:60 | optimization | basic
004:22 000:75 | fundamentals | basic
004:23 | optimization | basic
004:24 | training | intermediate
004:25 t:26 | optimization | intermediate
004:26 | fundamentals | basic
004:27 | fundamentals | basic
004:28 | fundamentals | basic
004:29 | optimization | intermediate
004:30 000:38 000:99 002:58 | optimization | intermediate
004:31 | optimization | intermediate
004:32 | training | intermediate
004:33 001:20 000:21 002:54 | training | intermediate
004:34 001:9 000:9 002:24 | training | intermediate
004:35 001:17 t:23 000:10 002:22 | regularization | basic
004:36 000:15 | cnn | basic
004:37 002:26 | cnn | basic
004:38 002:28 | cnn | basic
004:39 002:31 | cnn | basic
004:40 000:17 002:29 | cnn | basic
004:41 | cnn | basic
004:42 | cnn | intermediate
004:43 001:24 000:14 002:55 | training | basic
004:44 | cnn | intermediate
004:45 | cnn | intermediate
004:46 000:23 002:37 | rnn | basic
004:47 | rnn | intermediate
004:48 | rnn | intermediate
004:49 000:78 002:43 | rnn | intermediate
004:50 000:31 002:44 002:45 | rnn | intermediate
004:51 000:48 002:71 | generative | basic
004:52 001:25 000:44 | generative | basic
004:53 t:29 000:28 002:46 | transformers | intermediate
004:54 000:29 | transformers | intermediate
004:55 001:10 000:20 002:52 | training | basic
004:56 | training | advanced
001:1 | fundamentals | basic
001:2 | training | intermediate
001:3 t:24 | fundamentals | intermediate
001:5 | learning-paradigms | basic
001:6 | training | intermediate
001:7 t:32 | fundamentals | intermediate
001:8 000:73 | training | intermediate
001:11 t:22 | generative | intermediate
001:12 | training | intermediate
001:13 000:6 | optimization | intermediate
001:14 | training | intermediate
001:15 t:9 | training | intermediate
001:16 000:13 002:63 | regularization | basic
001:18 | regularization | intermediate
001:19 002:50 | fundamentals | basic
001:21 | training | basic
001:22 | training | intermediate
001:23 | applications | intermediate
003:1 t:8 | regularization | intermediate
003:2 | optimization | advanced
003:3 | training | advanced
003:4 002:69 | regularization | advanced
003:5 | training | advanced
t:10 000:34 000:40 002:35 | cnn | intermediate
t:12 000:64 | cnn | advanced
t:18 000:81 | learning-paradigms | advanced
t:20 000:61 | learning-paradigms | advanced
t:25 000:8 | training | advanced
t:37 000:37 000:58 002:78 | optimization | advanced
t:6 | training | advanced
t:7 | optimization | advanced
t:11 | rnn | advanced
t:13 | fundamentals | advanced
t:14 | learning-paradigms | advanced
t:15 | training | advanced
t:16 | learning-paradigms | advanced
t:17 | cnn | advanced
t:19 | generative | advanced
t:21 | generative | advanced
t:27 | regularization | advanced
t:30 | learning-paradigms | advanced
t:31 | training | advanced
t:33 | training | advanced
t:34 | deployment | advanced
t:35 | learning-paradigms | advanced
t:36 | learning-paradigms | advanced
t:38 | optimization | advanced
t:39 | training | advanced
t:40 | training | advanced
t:41 | training | advanced
t:42 | optimization | advanced
t:43 | applications | intermediate
t:44 | applications | advanced
t:45 | applications | advanced
t:46 | applications | advanced
t:47 | applications | advanced
t:48 | applications | advanced
t:49 | applications | advanced
t:50 | applications | advanced
000:3 | fundamentals | basic
000:4 002:6 | fundamentals | basic
000:5 | fundamentals | basic
000:7 | optimization | intermediate
000:11 | optimization | intermediate
000:16 | cnn | basic
000:18 002:51 | cnn | basic
000:19 | cnn | intermediate
000:22 | regularization | intermediate
000:24 | rnn | intermediate
000:25 | rnn | intermediate
000:26 | fundamentals | basic
000:27 | applications | intermediate
000:30 002:47 | transformers | intermediate
000:32 | transformers | intermediate
000:33 | training | intermediate
000:35 | cnn | basic
000:36 | cnn | intermediate
000:39 | regularization | intermediate
000:41 | cnn | advanced
000:42 | cnn | intermediate
000:43 | cnn | intermediate
000:45 | generative | intermediate
000:46 | generative | intermediate
000:47 | generative | advanced
000:49 002:72 | generative | intermediate
000:50 002:73 | generative | intermediate
000:51 | generative | intermediate
000:52 | generative | advanced
000:53 | transformers | intermediate
000:54 002:57 | regularization | intermediate
000:55 | training | intermediate
000:56 | regularization | intermediate
000:57 | optimization | intermediate
000:59 | regularization | intermediate
000:60 000:80 002:98 | deployment | intermediate
000:62 | learning-paradigms | advanced
000:63 | learning-paradigms | advanced
000:65 | training | advanced
000:66 | training | intermediate
000:67 | regularization | basic
000:68 | cnn | intermediate
000:69 | cnn | advanced
000:70 | training | intermediate
000:71 000:96 002:65 | training | intermediate
000:72 | training | intermediate
000:74 | fundamentals | basic
000:76 | fundamentals | intermediate
000:77 | rnn | intermediate
000:79 | fundamentals | intermediate
000:82 | training | intermediate
000:83 | optimization | advanced
000:84 | training | advanced
000:85 | deployment | intermediate
000:86 002:64 | training | basic
000:87 | optimization | intermediate
000:88 | optimization | intermediate
000:89 | training | intermediate
000:90 | training | advanced
000:91 | applications | advanced
000:92 | cnn | intermediate
000:93 | transformers | basic
000:94 | transformers | intermediate
000:95 | training | intermediate
000:97 | optimization | intermediate
000:98 | training | basic
000:100 002:96 | deployment | intermediate
002:2 | fundamentals | basic
002:4 | fundamentals | basic
002:5 | fundamentals | basic
002:7 | fundamentals | basic
002:8 | fundamentals | basic
002:9 | fundamentals | basic
002:10 | optimization | basic
002:12 | fundamentals | basic
002:14 | fundamentals | basic
002:15 | training | basic
002:16 | training | basic
002:17 | optimization | basic
002:18 | optimization | basic
002:19 | optimization | basic
002:20 | optimization | basic
002:21 | training | basic
002:23 | regularization | basic
002:25 | training | basic
002:27 | cnn | basic
002:30 | cnn | basic
002:32 | cnn | basic
002:33 | fundamentals | basic
002:34 | cnn | basic
002:36 | cnn | intermediate
002:38 | rnn | basic
002:39 | rnn | basic
002:40 | rnn | basic
002:41 | rnn | basic
002:42 | rnn | basic
002:48 | transformers | intermediate
002:49 | transformers | intermediate
002:53 | training | basic
002:56 | training | basic
002:59 | optimization | basic
002:61 | optimization | basic
002:62 | optimization | basic
002:66 | training | intermediate
002:67 | fundamentals | intermediate
002:68 | regularization | basic
002:70 | generative | basic
002:74 | generative | intermediate
002:75 | cnn | basic
002:76 | optimization | basic
002:77 | optimization | basic
002:79 | optimization | basic
002:80 | cnn | intermediate
002:81 | cnn | intermediate
002:82 | cnn | intermediate
002:83 | cnn | intermediate
002:84 | cnn | intermediate
002:85 | training | basic
002:86 | training | basic
002:87 | training | basic
002:88 | regularization | basic
002:89 | training | basic
002:90 | training | basic
002:91 | training | intermediate
002:92 | training | intermediate
002:93 | training | intermediate
002:94 | optimization | basic
002:95 | fundamentals | basic
002:97 | deployment | basic
002:100 | fundamentals | basic
"""

Q000 = {
    1: "What is deep learning?",
    2: "What is a neural network?",
    3: "What are the main components of a neural network layer?",
    4: "Why are activation functions necessary in neural networks?",
    5: "What is ReLU, and what are its advantages and drawbacks?",
    6: "What is the vanishing gradient problem?",
    7: "What techniques help mitigate the vanishing gradient problem?",
    8: "What is weight initialization, and why is it important?",
    9: "What is batch normalization, and what are its benefits?",
    10: "What is dropout, and how does it reduce overfitting?",
    11: "What are the differences between SGD, Momentum, and Adam?",
    12: "What is the role of the learning rate in training?",
    13: "What is early stopping?",
    14: "What is data augmentation?",
    15: "What are convolutional neural networks (CNNs)?",
    16: "How does a convolutional layer differ from a fully connected layer?",
    17: "What is the purpose of pooling layers in a CNN?",
    18: "What is weight sharing in CNNs, and why is it useful?",
    19: "What is a residual block?",
    20: "What is transfer learning?",
    21: "What is fine-tuning?",
    22: "What is the difference between dropout and batch normalization?",
    23: "What are recurrent neural networks (RNNs)?",
    24: "Why do plain RNNs struggle with long sequences, and how do LSTMs and GRUs help?",
    25: "What is the difference between LSTM and GRU cells?",
    26: "What is an embedding layer?",
    27: "What is the difference between Word2Vec and GloVe?",
    28: "What is the attention mechanism?",
    29: "What is the Transformer architecture?",
    30: "What is self-attention?",
    31: "What are the roles of the encoder and the decoder in a sequence-to-sequence model?",
    32: "What is beam search?",
    33: "What is layer normalization, and how does it differ from batch normalization?",
    34: "What are residual (skip) connections, and why are they useful?",
    35: None,  # survived in the source
    36: "What is global average pooling?",
    37: "What is a learning rate schedule?",
    38: "What is gradient clipping?",
    39: "What is the difference between early stopping and dropout?",
    40: "What are ResNets, and how do they make very deep networks trainable?",
    41: "What is an Inception module?",
    42: "What is a bottleneck layer in a CNN?",
    43: "What are depthwise separable convolutions?",
    44: "What is a generative adversarial network (GAN)?",
    45: "What is mode collapse in GANs?",
    46: "What is a conditional GAN (cGAN)?",
    47: "What is a Wasserstein GAN (WGAN)?",
    48: "What is an autoencoder?",
    49: "What is a denoising autoencoder?",
    50: "What is a variational autoencoder (VAE)?",
    51: "How does a VAE differ from a standard autoencoder?",
    52: "What is the reparameterization trick?",
    53: "How do you interpret attention weights?",
    54: "What is label smoothing?",
    55: "What is gradient checking?",
    56: "What is the difference between early stopping and weight decay?",
    57: "How does Adam compare to SGD?",
    58: "What is a learning rate scheduler?",
    59: "How does data augmentation differ from regularization techniques such as dropout?",
    60: "What is knowledge distillation?",
    61: "What is a Siamese network?",
    62: "Why do the branches of a Siamese network share weights?",
    63: "What is the difference between triplet loss and contrastive loss?",
    64: "What are capsule networks?",
    65: "Why is layer normalization often preferred over batch normalization in RNNs?",
    66: "What is group normalization?",
    67: "What is weight decay?",
    68: "How can you visualize the feature maps of a CNN?",
    69: "What is Grad-CAM?",
    70: "Why is hyperparameter tuning challenging in deep learning, and how can it be done?",
    71: "What is the trade-off between small and large batch sizes?",
    72: "What is curriculum learning?",
    73: "How do you handle class imbalance in the training labels?",
    74: "What does the softmax function do?",
    75: "What is cross-entropy loss?",
    76: None,  # survived in the source
    77: "What are the gates of an LSTM, and what does each one do?",
    78: "What is a GRU?",
    79: "How can you visualize and interpret learned embeddings?",
    80: "What is distillation in deep learning?",
    81: "What is the difference between zero-shot and few-shot learning?",
    82: "What is He initialization?",
    83: "What is a layer-wise learning rate?",
    84: "What is weight normalization?",
    85: "What techniques can be used to compress a deep learning model?",
    86: "Why is a validation set used for hyperparameter tuning?",
    87: "What is learning rate warm-up?",
    88: "What is cosine annealing?",
    89: "How does label noise affect training, and how can it be mitigated?",
    90: "What are Mixup and CutMix?",
    91: "What is the difference between early fusion and late fusion in multimodal models?",
    92: "What are saliency maps?",
    93: "What is a language model?",
    94: "What is BERT, and how does it differ from earlier language models?",
    95: "What is layer freezing?",
    96: "How does batch size affect generalization?",
    97: "How does the Adam optimizer work?",
    98: "Why is input normalization important?",
    99: "How does gradient clipping help training?",
    100: "What are the challenges of deploying deep learning models?",
}

Q004_FIX = {
    1: "What is deep learning?",
    3: "How does deep learning differ from machine learning?",
    4: "What are the applications of deep learning?",
    5: "What are the challenges in deep learning?",
    6: "How are biological neurons similar to artificial neural networks?",
    7: "How is deep learning used in supervised, unsupervised, and reinforcement learning?",
    9: "What is a multilayer perceptron, and how is it different from a single-layer perceptron?",
    10: "What are feedforward neural networks?",
    11: "What is a GPU?",
    15: "What are activation functions in deep learning, and where are they used?",
    16: "What are the different types of activation functions used in deep learning?",
    18: "How are the number of hidden layers and the number of neurons per hidden layer selected?",
    21: "Define the learning rate in deep learning.",
    24: "How do you optimize a deep learning model?",
    25: "Define batch, stochastic, and mini-batch gradient descent.",
    26: "What are the different types of neural networks?",
    27: "What is the difference between shallow networks and deep networks?",
    28: "What is a deep learning framework?",
    29: "What do you mean by the vanishing or exploding gradient problem?",
    30: "What is gradient clipping?",
    31: "What do you mean by momentum optimization?",
    32: "How are weights initialized in neural networks?",
    33: "What is fine-tuning in deep learning?",
    34: "What do you mean by batch normalization?",
    35: "What is dropout in deep learning?",
    41: "Define same and valid padding.",
    42: "Write the formula for finding the output shape of a convolutional neural network model.",
    43: "What is the data augmentation technique in CNNs?",
    46: "What are recurrent neural networks (RNNs), and how do they work?",
    47: "How does backpropagation through time work in RNNs?",
    48: "What is LSTM, and how does it work?",
    49: "What is GRU, and how does it work?",
    50: "What is an encoder-decoder network in deep learning?",
    55: "What is transfer learning?",
}

Q001_FIX = {
    19: "Can you discuss the difference between convolutional neural networks (CNNs) and recurrent neural networks (RNNs)?",
}
