print("tincd-swift")
