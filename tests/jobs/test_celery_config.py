from mcp_platform.celery import broker_settings


def test_the_file_broker_keeps_every_folder_in_the_data_dir(tmp_path):
    options = broker_settings(redis_url="", broker_dir=tmp_path)["broker_transport_options"]
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        assert options[key].startswith(str(tmp_path)), key
