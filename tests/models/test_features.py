import pytest
import torch
import torchvision

from dvcp_plugin.models.features import CompactEncoder, MissingWeightsError, ResNetFeatures

URL18 = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url


def test_missing_weights_at_given_path(tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(MissingWeightsError) as info:
        ResNetFeatures(18, weights=missing)
    message = str(info.value)
    assert str(missing) in message and URL18 in message and "imagenet_weights=PATH" in message


def test_missing_weights_in_torchvision_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(MissingWeightsError) as info:
        ResNetFeatures(34)
    message = str(info.value)
    assert torchvision.models.ResNet34_Weights.IMAGENET1K_V1.url in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert isinstance(info.value, FileNotFoundError)


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    torch.manual_seed(0)
    network = torchvision.models.resnet18(weights=None)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(network.state_dict(), path)
    return path, network.eval()


def test_loads_weights_and_returns_documented_shapes(resnet18_file):
    path, network = resnet18_file
    extractor = ResNetFeatures(18, weights=path)
    grey = torch.rand(2, 1, 37, 53)
    features = extractor(grey)
    assert features.fine.shape == (2, extractor.fine_channels, 19, 27)  # ceil(37/2), ceil(53/2)
    assert features.coarse.shape == (2, extractor.coarse_channels, 5, 7)  # ceil(37/8), ceil(53/8)
    assert (extractor.fine_stride, extractor.coarse_stride) == (2, 8)
    rgb = (grey.expand(-1, 3, -1, -1) - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]
    ).view(1, 3, 1, 1)
    with torch.no_grad():
        stem = network.relu(network.bn1(network.conv1(rgb)))
        layer2 = network.layer2(network.layer1(network.maxpool(stem)))
    assert torch.allclose(features.fine, stem, atol=1e-5)
    assert torch.allclose(features.coarse, layer2, atol=1e-5)


def test_network_is_frozen_and_stays_in_eval(resnet18_file):
    extractor = ResNetFeatures(18, weights=resnet18_file[0])
    extractor.train()
    assert not extractor.training and not any(module.training for module in extractor.modules())
    assert not any(parameter.requires_grad for parameter in extractor.parameters())


def test_corrupt_file_is_a_value_error(tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt.pth"):
        ResNetFeatures(18, weights=corrupt)


def test_mismatched_file_is_a_value_error(resnet18_file):
    with pytest.raises(ValueError, match="resnet18.pth"):
        ResNetFeatures(34, weights=resnet18_file[0])


def test_unknown_depth():
    with pytest.raises(ValueError, match="18, 34"):
        ResNetFeatures(50)


def test_compact_encoder_shapes_and_gradients():
    encoder = CompactEncoder(fine_channels=12, coarse_channels=20)
    grey = torch.rand(1, 1, 37, 53)
    features = encoder(grey)
    assert features.fine.shape == (1, 12, 19, 27)
    assert features.coarse.shape == (1, 20, 5, 7)
    (features.fine.sum() + features.coarse.sum()).backward()
    assert all(parameter.grad is not None for parameter in encoder.parameters())
