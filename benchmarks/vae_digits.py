"""An amortised VAE on the 8x8 digits with a Gaussian and with a flow posterior: both ELBOs.

The digits (1797 images of 64 pixels, scikit-learn) are binarised at half the grey range and split
into 1500 training and 297 test images. The model, for a latent z of ``--latent`` dimensions:

    prior      p(z) = N(0, I)
    decoder    p(x | z) = prod_j Bernoulli(x_j; sigmoid(logit_j(z))),  logits = MLP(z)
    encoder    (mu(x), log sigma(x)) = MLP(x)
    posterior  Gaussian:  z = mu(x) + sigma(x) * eps,                     eps ~ N(0, I)
               flow:      z = T(mu(x) + sigma(x) * eps),  T = ``--iaf`` IAF layers shared by all x

    ELBO(x) = E_eps[ log p(x | z) + log p(z) - log q(z | x) ],
    log q(z | x) = log N(eps; 0, I) - sum_j log sigma_j(x) - log|det dT/dz0|.

The flow's density is needed only at its own samples, which is why IAF layers are used: sampling
and the log-determinant come out of one forward pass. Both models are trained by Adam on the
reparametrised gradient of the ELBO (one eps per image; gradients written by hand through the
decoder, the flow and the encoder, with nflib's MLP and IAF backward passes) for the same number
of steps from the same seed. Reported per test image, in nats: the ELBO (100 samples of eps) and
the importance-weighted bound log (1/K) sum_k p(x, z_k) / q(z_k | x) with K = 500, which is much
closer to log p(x); their difference estimates the gap KL(q || p(z | x)).

    python benchmarks/vae_digits.py            # 4000 steps per model (a few minutes of CPU)
    python benchmarks/vae_digits.py --quick    # 600 steps per model
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

import nflib as nf  # noqa: E402
from nflib.core import prefixed  # noqa: E402
from nflib.validation import LOG_2PI  # noqa: E402


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="600 steps per model instead of 4000")
    p.add_argument("--steps", type=int, default=None, help="Adam steps per model")
    p.add_argument("--latent", type=int, default=4, help="latent dimension")
    p.add_argument("--hidden", type=int, default=128, help="hidden units of encoder and decoder")
    p.add_argument("--iaf", type=int, default=4, help="IAF layers of the flow posterior")
    p.add_argument("--iaf-hidden", type=int, default=32)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def load_binary_digits():
    pixels, _ = nf.datasets.load_digits(flatten=True)
    return (pixels >= 8).astype(np.float64)


class VAE:
    """Encoder, decoder and (optionally) a shared flow T after the encoder's Gaussian."""

    def __init__(self, d_x, d_z, hidden, n_iaf, iaf_hidden, rng):
        self.d_z = d_z
        self.encoder = nf.MLP(d_x, 2 * d_z, (hidden,), rng=rng)
        self.decoder = nf.MLP(d_z, d_x, (hidden,), rng=rng)
        layers = []
        for k in range(n_iaf):
            if k:
                layers.append(nf.Reverse(d_z))
            layers.append(nf.IAF(d_z, hidden=(iaf_hidden,), rng=rng))
        self.flow = nf.Compose(layers) if layers else None

    def parameters(self):
        parts = {"enc": self.encoder.parameters(), "dec": self.decoder.parameters()}
        if self.flow is not None:
            parts["flow"] = self.flow.parameters()
        return prefixed(parts)

    def sample_posterior(self, x, eps):
        """z ~ q(z | x) for base noise eps (n, d_z): (z, log q(z | x), cache)."""
        enc_out, enc_cache = self.encoder.forward_cached(x)
        mu, log_sigma = enc_out[:, :self.d_z], np.clip(enc_out[:, self.d_z:], -8.0, 4.0)
        sigma = np.exp(log_sigma)
        z0 = mu + sigma * eps
        log_q = -0.5 * np.sum(eps * eps, axis=1) - 0.5 * self.d_z * LOG_2PI
        log_q -= log_sigma.sum(axis=1)
        flow_cache = None
        z = z0
        if self.flow is not None:
            z, log_det, flow_cache = self.flow.forward_cached(z0)
            log_q -= log_det
        return z, log_q, (enc_cache, enc_out, sigma, eps, flow_cache)

    def log_joint(self, x, z):
        """log p(x | z) + log p(z) and the decoder cache."""
        logits, dec_cache = self.decoder.forward_cached(z)
        log_lik = np.sum(x * logits - np.logaddexp(0.0, logits), axis=1)
        log_prior = -0.5 * np.sum(z * z, axis=1) - 0.5 * self.d_z * LOG_2PI
        return log_lik + log_prior, (logits, dec_cache)

    def loss_and_grad(self, x, rng):
        """Minus the mean ELBO of the batch (one eps per image) and its gradient."""
        n = x.shape[0]
        eps = rng.standard_normal((n, self.d_z))
        z, log_q, (enc_cache, enc_out, sigma, eps, flow_cache) = self.sample_posterior(x, eps)
        log_p, (logits, dec_cache) = self.log_joint(x, z)
        loss = -float(np.mean(log_p - log_q))
        # d loss / d logits = -(x - sigmoid(logits)) / n
        g_logits = -(x - 0.5 * (1.0 + np.tanh(0.5 * logits))) / n
        g_z, dec_grads = self.decoder.backward(dec_cache, g_logits)
        g_z = g_z + z / n                               # -log p(z) contributes +z
        grads = {"dec": dec_grads}
        if self.flow is not None:                       # +log q contains -log|det T|
            g_z, grads["flow"] = self.flow.forward_backward(flow_cache, g_z, np.full(n, -1.0 / n))
        g_enc = np.empty_like(enc_out)
        g_enc[:, :self.d_z] = g_z                       # z0 = mu + sigma * eps
        g_enc[:, self.d_z:] = g_z * sigma * eps - 1.0 / n   # and -sum log sigma in log q
        clipped = (enc_out[:, self.d_z:] < -8.0) | (enc_out[:, self.d_z:] > 4.0)
        g_enc[:, self.d_z:][clipped] = 0.0
        _, grads["enc"] = self.encoder.backward(enc_cache, g_enc)
        return loss, prefixed(grads)

    def bounds(self, x, rng, n_elbo=100, k_iw=500):
        """Per-image ELBO (mean over n_elbo samples) and importance-weighted bound (k_iw)."""
        elbo = np.zeros(x.shape[0])
        iw = np.zeros(x.shape[0])
        for i in range(x.shape[0]):
            xi = np.repeat(x[i:i + 1], k_iw, axis=0)
            z, log_q, _ = self.sample_posterior(xi, rng.standard_normal((k_iw, self.d_z)))
            log_w = self.log_joint(xi, z)[0] - log_q
            elbo[i] = np.mean(log_w[:n_elbo])
            iw[i] = logsumexp(log_w) - np.log(k_iw)
        return elbo, iw


def train(model, x_train, steps, batch, lr, rng):
    opt = nf.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        idx = rng.choice(x_train.shape[0], size=batch, replace=False)
        opt.lr = nf.train.cosine_lr(lr, step / steps)
        loss, grads = model.loss_and_grad(x_train[idx], rng)
        if not np.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss} at step {step}")
        nf.train.clip_gradients(grads, 50.0)
        opt.step(grads)


def main():
    args = _parse()
    steps = args.steps or (600 if args.quick else 4000)
    x = load_binary_digits()
    order = np.random.default_rng(12345).permutation(x.shape[0])
    x_train, x_test = x[order[:1500]], x[order[1500:]]
    print(f"binarised 8x8 digits: {x_train.shape[0]} training, {x_test.shape[0]} test images; "
          f"latent dimension {args.latent}; {steps} Adam steps of {args.batch} per model")
    results = {}
    for name, n_iaf in (("Gaussian", 0), (f"flow ({args.iaf} IAF)", args.iaf)):
        rng = np.random.default_rng(args.seed)
        model = VAE(64, args.latent, args.hidden, n_iaf, args.iaf_hidden, rng)
        start = time.process_time()
        train(model, x_train, steps, args.batch, args.lr, rng)
        seconds = time.process_time() - start
        elbo, iw = model.bounds(x_test, np.random.default_rng(args.seed + 1))
        n_params = sum(p.size for p in model.parameters().values())
        results[name] = (elbo, iw)
        print(f"{name:16s} parameters {n_params:6d}  training CPU {seconds:6.1f} s  "
              f"test ELBO {elbo.mean():8.3f} +- {elbo.std(ddof=1) / np.sqrt(elbo.size):.3f}  "
              f"IW bound (K=500) {iw.mean():8.3f}  gap {np.mean(iw - elbo):6.3f} nats")
    (eg, _), (ef, _) = results.values()
    diff = ef - eg
    print(f"flow ELBO - Gaussian ELBO, per test image: {diff.mean():.3f} +- "
          f"{diff.std(ddof=1) / np.sqrt(diff.size):.3f} nats")


if __name__ == "__main__":
    main()
