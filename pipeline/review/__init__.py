"""Active-learning review: queue strategies, label store, review page, terminal mode, learning rounds, benchmark."""
