print("mcpool")
