"""Data for training: an ImageNet-layout image folder (train/<class>/*.jpg, val/<class>/*.jpg) or
synthetic images, with the augmentation AlexNet and its successors describe. torchvision does the
work; this file adds AlexNet's PCA lighting noise, and skips (and counts) images that fail to load."""
import os

import torch

# ImageNet's RGB statistics (torchvision's), and the eigen-decomposition of its pixel covariance that
# AlexNet's lighting noise uses.
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
EIGVAL = (0.2175, 0.0188, 0.0045)
EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))


class Lighting:
    """AlexNet's PCA lighting noise: adds sum_i alpha_i * eigval_i * eigvec_i to every pixel of an RGB
    image tensor, alpha_i ~ N(0, std), drawn once per image."""

    def __init__(self, std=0.1, eigval=EIGVAL, eigvec=EIGVEC):
        self.std = std
        self.eigval = torch.tensor(eigval)
        self.eigvec = torch.tensor(eigvec)

    def __call__(self, image):
        if self.std == 0:
            return image
        alpha = torch.randn(3) * self.std
        rgb = self.eigvec @ (alpha * self.eigval)
        return image + rgb.view(3, 1, 1)

    def __repr__(self):
        return f"Lighting(std={self.std})"


def transforms(train, augment="paper", image_size=224, resize=256):
    """Training: resize to 256, random 224 crop (translations), flip, colour jitter, PCA lighting,
    normalise. Evaluation: resize, centre crop, normalise. augment="none" trains on the centre crop."""
    import torchvision.transforms as T

    normalize = [T.ToTensor(), T.Normalize(MEAN, STD)]
    if train and augment == "paper":
        return T.Compose([
            T.Resize(resize), T.RandomCrop(image_size), T.RandomHorizontalFlip(),
            T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
            T.ToTensor(), Lighting(0.1), T.Normalize(MEAN, STD),
        ])
    return T.Compose([T.Resize(resize), T.CenterCrop(image_size), *normalize])


def ten_crop_transform(image_size=224, resize=256):
    """Evaluation with the four corner and centre crops and their flips: a (10, 3, H, W) tensor."""
    import torchvision.transforms as T

    per_crop = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    ten_crops = T.Lambda(lambda crops: torch.stack([per_crop(c) for c in crops]))
    return T.Compose([T.Resize(resize), T.TenCrop(image_size), ten_crops])


class SkippingImageFolder:
    """torchvision's ImageFolder whose unreadable images come back as None (see collate_skipping)."""

    def __init__(self, root, transform):
        from torchvision.datasets import ImageFolder

        if not os.path.isdir(root):
            raise DatasetError(f"no dataset folder at {root!r} (expected {root}/<class>/<image>)")
        try:
            self.folder = ImageFolder(root, transform=transform)
        except (FileNotFoundError, RuntimeError) as error:
            raise DatasetError(f"{root!r} holds no images in <class>/<image> folders: {error}") from None
        self.classes = self.folder.classes

    def __len__(self):
        return len(self.folder)

    def __getitem__(self, index):
        try:
            return self.folder[index]
        except (OSError, ValueError, SyntaxError):  # what PIL raises for a truncated or corrupt file
            return None


class DatasetError(ValueError):
    """A dataset that cannot be used, with a message that says why."""


def collate_skipping(batch):
    """Stacks the readable samples; returns (images, targets, number skipped)."""
    good = [sample for sample in batch if sample is not None]
    skipped = len(batch) - len(good)
    if not good:
        return None, None, skipped
    images, targets = torch.utils.data.default_collate(good)
    return images, targets, skipped


def datasets(data_dir, augment, image_size, synthetic_size, num_classes, ten_crop=False):
    """(train, val, num_classes): the folder's, or synthetic images (torchvision's FakeData) if data_dir is None."""
    from torchvision.datasets import FakeData

    resize = max(image_size, round(image_size * 256 / 224))
    train_tf = transforms(True, augment, image_size, resize)
    val_tf = ten_crop_transform(image_size, resize) if ten_crop else transforms(False, augment, image_size, resize)
    if data_dir is None:
        shape = (3, resize, resize)
        train = FakeData(synthetic_size, shape, num_classes, transform=train_tf)
        val = FakeData(max(1, synthetic_size // 10), shape, num_classes, transform=val_tf, random_offset=10**6)
        return train, val, num_classes
    train = SkippingImageFolder(os.path.join(data_dir, "train"), train_tf)
    val = SkippingImageFolder(os.path.join(data_dir, "val"), val_tf)
    if val.classes != train.classes:
        raise DatasetError(f"train/ and val/ in {data_dir!r} have different class folders")
    return train, val, len(train.classes)
