"""Signal processing: mel filter banks, the DFT engine and its BLAS control, fragments, the fragment cache, MFCCs."""
