print("thermoshard")
