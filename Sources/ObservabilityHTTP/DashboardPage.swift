enum DashboardPage { static let html = "<!doctype html><title>thermoshard</title>" }
