"""Model collapse: generative models trained on their own samples, generation after generation.

The recursion (:func:`run_generations`, data modes ``replace`` / ``accumulate`` / ``mixed``),
the exactly solvable Gaussian (:func:`gaussian_generations` and its closed forms), linear
regression after Gerstgrasser et al. (:func:`regression_generations`), a Gaussian mixture, a VAE
and character-level language models, with quality, diversity, tail and criticality scores per
generation (DESIGN §8; Shumailov et al., Nature 2024; Gerstgrasser et al. 2024).
"""

from criticality.collapse._train import TrainSpec as TrainSpec
from criticality.collapse.charlm import CharGRU as CharGRU
from criticality.collapse.charlm import CharTransformer as CharTransformer
from criticality.collapse.charlm import generate as generate
from criticality.collapse.charlm import perplexity as perplexity
from criticality.collapse.gaussian import GaussianGenerations as GaussianGenerations
from criticality.collapse.gaussian import accumulate_bound as accumulate_bound
from criticality.collapse.gaussian import (
    accumulate_variance_limit as accumulate_variance_limit,
)
from criticality.collapse.gaussian import expected_log_det as expected_log_det
from criticality.collapse.gaussian import expected_mean_error as expected_mean_error
from criticality.collapse.gaussian import expected_variance as expected_variance
from criticality.collapse.gaussian import gaussian_generations as gaussian_generations
from criticality.collapse.gmm import GMMLearner as GMMLearner
from criticality.collapse.intime import GRUStackStep as GRUStackStep
from criticality.collapse.intime import lyapunov_in_time as lyapunov_in_time
from criticality.collapse.judge import Diversity as Diversity
from criticality.collapse.judge import load_judge as load_judge
from criticality.collapse.learners import CharLMLearner as CharLMLearner
from criticality.collapse.learners import CharLMSpec as CharLMSpec
from criticality.collapse.learners import VAELearner as VAELearner
from criticality.collapse.learners import VAESpec as VAESpec
from criticality.collapse.recursion import DATA_MODES as DATA_MODES
from criticality.collapse.recursion import GenerationRecord as GenerationRecord
from criticality.collapse.recursion import Recursion as Recursion
from criticality.collapse.recursion import run_generations as run_generations
from criticality.collapse.recursion import training_pool as training_pool
from criticality.collapse.regression import RegressionGenerations as RegressionGenerations
from criticality.collapse.regression import expected_test_error as expected_test_error
from criticality.collapse.regression import regression_generations as regression_generations
from criticality.collapse.vae import VAE as VAE
