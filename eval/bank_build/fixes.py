"""Hand text fixes applied by build.py on top of extract.py's automatic cleaning.

REPLACE[(file_prefix, number)] = [(old, new), ...]   exact substring replacements (must match)
FULL[(file_prefix, number)] = text                    whole cleaned text, for answers whose page
                                                       markup (tables, misplaced bold labels,
                                                       formulas lost as images) was too broken to
                                                       repair by rule.  Content kept; see README.
"""

REPLACE = {
    # ---- 000: list items that swallowed the closing sentence -> own line
    ("000", 37): [("improving training dynamics. Adjusting", "improving training dynamics.\nAdjusting")],
    ("000", 43): [("to combine the outputs. This reduces", "to combine the outputs.\nThis reduces")],
    ("000", 56): [("encouraging simpler solutions. Both reduce", "encouraging simpler solutions.\nBoth reduce")],
    ("000", 58): [("decreases and restarts. Schedulers help", "decreases and restarts.\nSchedulers help")],
    ("000", 71): [("less generalization. It’s a trade-off", "less generalization.\nIt’s a trade-off")],
    ("000", 77): [("output to hidden state. These gates", "output to hidden state.\nThese gates")],
    # ---- 001: chatty first-person filler that is not part of the answer
    ("001", 1): [("I’d be happy to explain the concept of artificial neural networks and their relationship to deep learning.\n", "")],
    ("001", 11): [("As a deep learning practitioner, I understand the difference between these two types of models and their applications.\n", "")],
    ("001", 12): [("As a deep learning practitioner, I understand the importance of evaluating the performance of a model to ensure that it is performing as expected. ", "")],
    ("001", 13): [("I have come across the vanishing gradients problem many times in my work. ", "")],
    ("001", 16): [("I understand the importance of preventing overfitting in order to achieve optimal model performance. ", "")],
    ("001", 19): [("As a deep learning professional, I understand the difference between Convolutional Neural Networks (CNNs) and Recurrent Neural Networks (RNNs) very well. ", "")],
    ("001", 25): [("I’d be happy to explain the concept of Generative Adversarial Networks, or GANs, in deep learning. ", "")],
    # ---- 003: closing sentence glued to the last list item
    ("003", 1): [("lessening the chance of learning noise. These strategies", "lessening the chance of learning noise.\nThese strategies")],
    # ---- 004: small repairs
    ("004", 20): [],  # FULL below
    ("004", 47): [("adapt its behaviour accordingly. Forward Pass:", "adapt its behaviour accordingly.\nForward Pass:")],
    ("004", 37): [("The output of this layer is referred ad feature maps.", "The output of this layer is referred to as feature maps.")],
    ("004", 49): [("Ans: GRU stands for", "GRU stands for"),
                  ("time series.GRU uses", "time series. GRU uses"),
                  ("- Rest Gate (r): It determines which parts of the previous hidden state should be forgotten or reset. It takes The update gate decides which parts of the current hidden state should be updated with new information from the current input. Similar to the reset gate, it takes the previous hidden state and the current input as inputs and outputs a value between 0 and 1 for each element of the hidden state.",
                   "- Reset Gate (r): It determines which parts of the previous hidden state should be forgotten or reset. It takes the previous hidden state and the current input as inputs and outputs a value between 0 and 1 for each element of the hidden state.")],
    ("004", 56): [],
}
del REPLACE[("004", 20)], REPLACE[("004", 56)]

FULL = {
    ("004", 3): """Machine learning and deep learning both are subsets of artificial intelligence but there are many similarities and differences between them.
- Machine learning applies statistical algorithms to learn the hidden patterns and relationships in the dataset; deep learning uses artificial neural network architecture to learn the hidden patterns and relationships in the dataset.
- Machine learning can work on the smaller amount of dataset; deep learning requires the larger volume of dataset compared to machine learning.
- Machine learning is better for the low-label task; deep learning is better for complex tasks like image processing, natural language processing, etc.
- Machine learning takes less time to train the model; deep learning takes more time to train the model.
- In machine learning, a model is created by relevant features which are manually extracted from images to detect an object in the image; in deep learning, relevant features are automatically extracted from images. It is an end-to-end learning process.
- Machine learning is less complex and it is easy to interpret the result; deep learning is more complex, it works like a black box and interpretations of the result are not easy.
- Machine learning can work on the CPU or requires less computing power as compared to deep learning; deep learning requires a high-performance computer with GPU.""",

    ("004", 7): """Deep learning can be used for supervised, unsupervised as well as reinforcement machine learning. it uses a variety of ways to process these.
- Supervised Machine Learning: Supervised machine learning is the machine learning technique in which the neural network learns to make predictions or classify data based on the labeled datasets. Here we input both input features along with the target variables. the neural network learns to make predictions based on the cost or error that comes from the difference between the predicted and the actual target, this process is known as backpropagation. Deep learning algorithms like Convolutional neural networks, Recurrent neural networks are used for many supervised tasks like image classifications and recognization, sentiment analysis, language translations, etc.
- Unsupervised Machine Learning: Unsupervised machine learning is the machine learning technique in which the neural network learns to discover the patterns or to cluster the dataset based on unlabeled datasets. Here there are no target variables. while the machine has to self-determined the hidden patterns or relationships within the datasets. Deep learning algorithms like autoencoders and generative models are used for unsupervised tasks like clustering, dimensionality reduction, and anomaly detection.
- Reinforcement Machine Learning: Reinforcement Machine Learning is the machine learning technique in which an agent learns to make decisions in an environment to maximize a reward signal. The agent interacts with the environment by taking action and observing the resulting rewards. Deep learning can be used to learn policies, or a set of actions, that maximizes the cumulative reward over time. Deep reinforcement learning algorithms like Deep Q networks and Deep Deterministic Policy Gradient (DDPG) are used to reinforce tasks like robotics and game playing etc.""",

    ("004", 12): """There are commonly three different types of layers in an artificial neural network (ANN):
- Input Layer: This is the layer that receives the input data and passes it on to the next layer. The input layer is typically not counted as one of the hidden layers of the network.
- Hidden Layers
- Output Layer: This is the output-producing layer of the network. A binary classification problem might only have one output neuron, but a multi-class classification problem might have numerous output neurons, one for each class. The number of neurons in the output layer depends on the type of problem being solved.
We commonly use a notation like a_i^[L] to represent a node of a specific layer in an ANN, where L denotes the layer number and i denotes the node’s index inside that layer. For instance, the input layer’s first node may be written as a_1^[0] whereas the third hidden layer’s second node might be written as a_2^[3]. With this notation, it is simple to refer to specific network nodes to understand the structure of the network as a whole.""",

    ("004", 16): """In deep learning, several different types of activation functions are used. Each of them has its own strength and weakness. Some of the most common activation functions are as follows.
- Sigmoid function: It maps any value between 0 and 1. It is mainly used in binary classification problems. where it maps the output of the preceding hidden layer into the probability value.
- Softmax function: It is the extension of the sigmoid function used for multi-class classification problems in the output layer of the neural network, where it maps the output of the previous layer into a probability distribution across the classes, giving each class a probability value between 0 and 1 with the sum of the probabilities over all classes is equal to 1. The class which has the highest probability value is considered as the predicted class.
- ReLU (Rectified Linear Unit) function: It is a non-linear function that returns the input value for positive inputs and 0 for negative inputs. Deep neural networks frequently employ this function since it is both straightforward and effective.
- Leaky ReLU function: It is similar to the ReLU function, but it adds a small slope for negative input values to prevent dead neurons.
- Tanh (hyperbolic tangent) function: It is a non-linear activations function that maps the input’s value between -1 to 1. It is similar to the sigmoid function but it provides both positive and negative results. It is mainly used for regression tasks, where the output will be continuous values.""",

    ("004", 19): """Overfitting is a problem in machine learning that occurs when the model learns to fit the training data too close to the point that it starts catching up on noise and unimportant patterns. Because of this, the model performs well on training data but badly on fresh, untested data, resulting in poor generalization performance.
To avoid overfitting in deep learning we can use the following techniques:
- Simplify the model: Overfitting may be less likely in a simpler model with fewer layers and parameters. In practical applications, it is frequently beneficial, to begin with a simple model and progressively increase its complexity until the desired performance is attained.
- Regularization: Regularization is a technique used in machine learning to prevent the overfitting of a model by adding a penalty term, it imposes the constraint on the weight of the model. Some of the most common regularization techniques are as follows:
  - L1 and L2 regularization: L1 regularization sparse the model by equating many model weights equal to 0 while L2 regularization constrains the weight of the neural network connection.
  - Dropout: Dropout is a technique that randomly drops out or disables some of the randomly selected neurons. It is applied after the activation functions of the hidden layer. Typically, it is set to a small value like 0.2 or 0.25. For the dropout value of 0.20, Each neuron in the previously hidden layer has a 20% chance of being inactive. It is only operational during the training process.
  - Max-Norm Regularization: It constrains the magnitude of the weights in a neural network by setting a maximum limit (or norm) on the weights of the neurons, such that their values cannot exceed this limit.
- Data augmentation: By applying various transformations, such as rotating or flipping images, to new training data, it is possible to teach the model to become more robust to changes in the input data.
- Increasing the amount of training data: By increasing the amount of data can provide the model with a diverse set of examples to learn from, which can be helpful to prevent overfitting.
- Early stopping: This involves keeping track of the model’s performance on a validation set during training and terminating the training process when the validation loss stops decreasing.""",

    ("004", 20): """A complete cycle of deep learning model training utilizing the entire training dataset is called an epoch. Each training sample in the dataset is processed by the model during a single epoch, and its weights and biases are adjusted in response to the estimated loss or error. The number of epochs will range from 1 to infinite. User input determines it. It is always an integral value.
Iteration refers to the procedure of running a batch of data through the model, figuring out the loss, and changing the model’s parameters. Depending on the number of batches in the dataset, one or more iterations can be possible within a single epoch.
A batch in deep learning is a subset of the training data that is used to modify the weights of a model during training. In batch training, the entire training set is divided into smaller groups, and the model is updated after analyzing each batch. An epoch can be made up of one or more batches.
- The batch size will be more than one and always less than the number of samples.
- Batch size is a hyperparameter, it is set by the user. where the number of iterations per epoch is calculated by dividing the total number of training samples by the individual batch size.
Deep learning training datasets are often separated into smaller batches, and the model analyses each batch sequentially, one at a time, throughout each epoch. On the validation dataset, the model performance can be assessed after each epoch. This helps in monitoring the model’s progress.
For example: Let’s use 5000 training samples in the training dataset. Furthermore, we want to divide the dataset into 100 batches. If we choose to use five epochs, the total number of iterations will be as follows:
Total number of training samples = 5000
Batch size = 100
Total number of iterations = Total number of training samples / Batch size = 5000/100 = 50
Total number of iterations = 50
One epoch = 50 iterations
Total number of iterations in 5 epochs = 50*5 = 250 iterations.""",

    ("004", 22): """Cross-entropy is the commonly used loss function in deep learning for classification problems. The cross-entropy loss measures the difference between the real probability distribution and the predicted probability distribution over the classes.
The formula for the Cross-Entropy loss function for the K classes will be:
L = - sum over k in K of Y_k * log(Ŷ_k)
Here, Y and Ŷ are actual and predicted values for a single instance. k represents a particular class and is a subset of K.""",

    ("004", 32): """An essential part of training neural networks is weight initialization. The objective is to establish the initial weights in such a way that the network may learn efficiently and converge at an appropriate solution. It can be accomplished in several ways:
- Zero Initialization: As the name suggests, the initial value of each weight is set to zero during initialization. As a result, all of their derivatives with respect to the loss function are identical, resulting in the same value for each weight in subsequent iterations. The hidden units are also symmetric as a consequence, which may cause training to converge slowly or perhaps prohibit learning altogether.
- Random Initialization: The most straightforward approach is to initialize the weights randomly using a uniform or normal distribution. This technique is regularly applied in practice and frequently benefits from shallow networks. However, issues like overfitting, the vanishing gradient problem, and the exploding gradient problem may occur if the weights were assigned values at random.
- Xavier Initialization: It sets the initial weights to be drawn from a normal distribution with a mean of zero and a variance of 1/fan_avg, where fan_avg = (fan_in + fan_out)/2 is the number of input neurons. This method is commonly used for activation functions like the sigmoid function, softmax function, or tanh function. it is also known as Glorot Initialization.
- He Initialization: It is similar to Xavier initialization, but the variance is scaled by a factor of 2/fan_avg. This method is used for nonlinear activation functions, such as ReLU and its variants.
- Orthogonal Initialization: It initializes the weight matrix to be a random orthogonal matrix. The orthogonal matrix is the square matrix whose columns are orthonormal means dot product or normalized means the column-wise square root of the square of column values is equal to 1. This method has been shown to work well for recurrent neural networks.
- Pretrained Initialization: This method initializes the weights based on a pre-trained model on a related task. For example, the weights of a convolutional neural network can be initialized based on a pre-trained model on ImageNet.""",

    ("004", 42): """The formula for calculating the output shape for the same padding:
output = floor((n + 2p - f) / s) + 1
Where,
- n = Number of rows and columns of the input image.
- f = Filter kernel dimensions.
- s = Strides
- p = Number of layer of zeros.
For the same output shape: stride = 1 and p = (f - 1) / 2.""",

    ("004", 45): """Object detection and image segmentation are both computer vision tasks used to analyze and understand images, but they differ in their goals and output.
The difference between object detection and image segmentation is as follows:
- Object detection is used to identify and locate the specific objects within the image or video; image segmentation divides the digital image into multiple image segments or regions (i.e. typically a set of pixels), where each of the image segments belongs to different objects or the parts of image.
- The main goal of object detection involves detecting the presence of the object within an image, and it typically draws a bounding box around the objects and mentions the label or name of the objects; in image segmentation, pixel-wise classification happens, which means the goal in image segmentation is to assign a label for each pixel that says which segment it belongs to.
- Object detection is concerned with identifying and localizing specific objects within an image; image segmentation is concerned with pixel-wise segmentation within an image into different regions and assigning labels to each pixel.
- Object detection uses a combination of feature extraction and classification algorithms, such as Convolutional Neural Networks (CNNs) and object detection frameworks like Faster R-CNN or YOLO; image segmentation uses techniques such as clustering, edge detection, region growing, or CNN-based segmentation methods like U-Net or Mask R-CNN.
- Object detection is primarily used in surveillance, self-driving car and robotics, etc.; image segmentation is used in a variety of tasks like object recognition, image editing, scene understanding, and computer graphics.""",

    ("004", 46): """Recurrent Neural Networks are the type of artificial neural network that is specifically designed to work with sequential data or time series data. It is specifically used in natural language processing tasks like language translation, speech recognition, sentiment analysis, natural language generation, summary writing, etc. It is different from the feedforward neural networks means in RNN the input data not only flow in a single direction but it also has a loop or cycle within its architecture which has the “memory” that preserve the information over time. This makes the RNN capable of data where context is important like the natural languages.
The basic concept of RNNs is that they analyze input sequences one element at a time while maintaining track in a hidden state that contains a summary of the sequence’s previous elements. The hidden state is updated at each time step based on the current input and the previous hidden state. This allows RNNs to capture the temporal dependencies between elements of the sequence and use that information to make predictions.
Working: The fundamental component of an RNN is the recurrent neuron, which receives as inputs the current input vector and the previous hidden state and generates a new hidden state as output. And this output hidden state is then used as the input for the next recurrent neuron in the sequence. An RNN can be expressed mathematically as a sequence of equations that update the hidden state at each time step:
h_t = f(U h_(t-1) + W x_t + b)
Where,
- h_t = Current state at time t
- x_t = Input vector at time t
- h_(t-1) = Previous state at time t-1
- U = Weight matrix of recurrent neuron for the previous state
- W = Weight matrix of input neuron
- b = Bias added to the input vector and previous hidden state
- f = Activation functions
And the output of the RNN at each time step will be:
y_t = g(V h_t + c)
Where,
- y = Output at time t
- V = Weight matrix for the current state in the output layer
- c = Bias for the output transformations.
- g = activation function
Here, W, U, V, b, and c are the learnable parameters and it is optimized during the backpropagation.""",

    ("004", 48): """LSTM stands for Long Short-Term Memory. It is the modified version of RNN (Recurrent Neural Network) that is designed to address the vanishing and exploding gradient problems that can occur during the training of traditional RNNs. LSTM selectively remembers and forgets information over the multiple time step which gives it a great edge in capturing the long-term dependencies of the input sequence.
RNN has a single hidden state that passes through time, which makes it difficult for the network to learn long-term dependencies. To address this issue LSTM uses a memory cell, which is a container that holds information for an extended period of time. This memory cell is controlled by three gates i.e. input gate, forget gate, and the output gate. These gates regulate which information should be added, removed, or output from the memory cell.
LSTMs function by selectively passing or retaining information from one-time step to the next using the combination of memory cells and gating mechanisms. The LSTM cell is made up of a number of parts, such as:
- Cell state (C): This is where the data from the previous step is kept in the LSTM’s memory component. It is passed through the LSTM cell via gates that control the flow of information into and out of the cell.
- Hidden state (h): This is the output of the LSTM cell, which is a transformed version of the cell state. It can be used to make predictions or be passed on to another LSTM cell later on in the sequence.
- Forget gate (f): The forget gate removes the data that is no longer relevant in the cell state. The gate receives two inputs, x_t (input at the current time) and h_(t-1) (previous hidden state), which are multiplied with weight matrices, and bias is added. The result is passed via an activation function, which gives a binary output i.e. True or False.
- Input Gate (i): The input gate uses as input the current input and the previous hidden state and applies a sigmoid activation function to determine which parts of the input should be added to the cell state. The output of the input gate (again a fraction between 0 and 1) is multiplied by the output of the tanh block that produces the new values that are added to the cell state. This gated vector is then added to the previous cell state to generate the current cell state.
- Output Gate (o): The output gate extracts the important information from the current cell state and delivers it as output. First, The tanh function is used in the cell to create a vector. Then, the information is regulated using the sigmoid function and filtered by the values to be remembered using inputs h_(t-1) and x_t. At last, the values of the vector and the regulated values are multiplied to be sent as an output and input to the next cell.""",
}
